"""Portico's PySpark wrapper, run by spark-submit: spark_py.py CODE ROW_CAP.

Runs the job's code with `spark`, `sc` and `sqlContext` ready, and `show(df)` (also `showDF`)
writing a DataFrame, or rows, as a TABLE result set. An uncaught exception ends the job with
its traceback in the log and its last line in the job's error slot.
"""

import sys
import traceback
import warnings

import portico  # beside this file: the script's directory is first on Python's path


def main():
    spark, code, row_cap = portico.spark_job(sys.argv)
    sc = spark.sparkContext
    try:
        from pyspark.sql import SQLContext

        # Deprecated since Spark 3, and its warning would land in the job's text result
        # (PySpark merges the driver's stderr into stdout).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sql_context = SQLContext(sc)
    except Exception:  # noqa: BLE001  (gone in some Spark versions)
        sql_context = spark
    def show(data, columns=None):
        return portico.show(data, columns=columns, row_cap=row_cap)

    scope = {"__name__": "__main__", "spark": spark, "sc": sc, "sqlContext": sql_context, "show": show, "showDF": show}
    try:
        exec(compile(code, "job.py", "exec"), scope)
    except SystemExit:
        raise
    except BaseException:  # noqa: BLE001  (reported, then the job fails)
        lines = traceback.format_exc().rstrip().splitlines()
        for text in lines:
            print("##portico:log " + text, flush=True)
        print("##portico:error " + (lines[-1] if lines else "the job's code failed"), flush=True)
        spark.stop()
        sys.exit(1)
    spark.stop()


if __name__ == "__main__":
    main()
