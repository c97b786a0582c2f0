"""Portico's Spark SQL driver, run by spark-submit: spark_sql.py CODE ROW_CAP.

Runs the script's statements in order, each under its own job group, and writes every result
that has columns as a TABLE result set (through portico.show, which numbers it in output order).
A failing statement ends the job: its number, line, Spark's error class and SQLSTATE go to the
job's error slot (##portico:error) and the driver exits 1. Progress counts statements.
"""

import sys

import portico  # beside this file: the script's directory is first on Python's path


def statements(script):
    """(line, text) of each statement: cut at ';' outside quotes and comments."""
    out, start, i, line, start_line = [], 0, 0, 1, 1
    n = len(script)
    while i < n:
        c = script[i]
        if c == "\n":
            line += 1
        elif c in "'\"`":
            i += 1
            while i < n and script[i] != c:
                if script[i] == "\\" and c != "`":
                    i += 1
                elif script[i] == "\n":
                    line += 1
                i += 1
        elif script.startswith("--", i):
            while i < n and script[i] != "\n":
                i += 1
            continue
        elif script.startswith("/*", i):
            end = script.find("*/", i + 2)
            end = n if end < 0 else end + 1
            line += script.count("\n", i, end)
            i = end
        elif c == ";":
            _push(out, script[start:i], start_line)
            start, start_line = i + 1, line
        i += 1
    _push(out, script[start:], start_line)
    return out


def _push(out, text, start_line):
    body = text
    while True:
        stripped = body.lstrip()
        if stripped.startswith("--"):
            cut = stripped.find("\n")
            body = "" if cut < 0 else stripped[cut + 1:]
        elif stripped.startswith("/*"):
            cut = stripped.find("*/")
            body = "" if cut < 0 else stripped[cut + 2:]
        else:
            body = stripped
            break
    skipped = text[: len(text) - len(body)] if body else text
    if body.strip():
        out.append((start_line + skipped.count("\n"), body.rstrip()))


def describe(error):
    """Spark's error class and SQLSTATE, when the error carries them, and its first line."""
    condition = None
    for name in ("getCondition", "getErrorClass"):
        getter = getattr(error, name, None)
        if getter is not None:
            try:
                condition = getter()
            except Exception:  # noqa: BLE001  (older or odd errors)
                condition = None
            if condition:
                break
    sqlstate = None
    getter = getattr(error, "getSqlState", None)
    if getter is not None:
        try:
            sqlstate = getter()
        except Exception:  # noqa: BLE001
            sqlstate = None
    message = (str(error).strip().splitlines() or [type(error).__name__])[0]
    parts = [message if not condition or condition in message else "[%s] %s" % (condition, message)]
    if sqlstate and "SQLSTATE" not in message:
        parts.append("SQLSTATE: %s" % sqlstate)
    return " ".join(parts)


def main():
    spark, code, row_cap = portico.spark_job(sys.argv)
    sc = spark.sparkContext
    todo = statements(code)
    total = max(len(todo), 1)
    print("##portico:progress 0/%d" % total, flush=True)
    for number, (line, text) in enumerate(todo, 1):
        sc.setJobGroup("stmt-%d" % number, text[:200])
        try:
            frame = spark.sql(text)
            if frame.columns:
                portico.show(frame, row_cap=row_cap)
        except Exception as error:  # noqa: BLE001  (every failure ends the job, reported)
            first = text.strip().splitlines()[0][:120]
            print(
                "##portico:error Spark SQL statement %d of %d (line %d: %s) failed: %s"
                % (number, len(todo), line, first, describe(error)),
                flush=True,
            )
            spark.stop()
            sys.exit(1)
        print("##portico:log Statement %d of %d (line %d) done" % (number, len(todo), line), flush=True)
        print("##portico:progress %d/%d" % (number, total), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
