"""Portico's PySpark wrapper, run by spark-submit: spark_py.py CODE RESULT_DIR ROW_CAP.

Runs the job's code with `spark`, `sc` and `sqlContext` ready, and `show(df)` (also `showDF`)
writing a DataFrame, or rows, as a TABLE result set. An uncaught exception ends the job with
its traceback in the log and its last line in the job's error slot.
"""

import os
import sys
import traceback
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import portico  # noqa: E402  (beside this file)
from pyspark.sql import SparkSession  # noqa: E402


def main():
    code_path, _result_dir, row_cap = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(code_path, encoding="utf-8") as f:
        code = f.read()
    spark = SparkSession.builder.getOrCreate()
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
    print("##portico:spark %s %s" % (sc.applicationId, sc.uiWebUrl), flush=True)

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
