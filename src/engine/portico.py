"""Portico's result-set helper for Python jobs.

    from portico import show
    show([(1, "a"), (2, None)], columns=["id", "name"])   # a TABLE result set
    show(dataframe)                                      # a pandas DataFrame, if pandas is there

Each call writes one TABLE result set (Linkis's dolphin format, type 2) into the job's result
directory and announces it on stdout; Portico numbers it in the order of the job's output, so
text printed before it comes first. Printing stays a TEXT result set. Column
types come from the data: bool -> boolean, int -> bigint, float -> double, Decimal -> decimal,
datetime -> timestamp, date -> date, bytes -> binary, anything else -> string; None (and a
float NaN) (and pandas' NaT and NA) is NULL. A row over 2 MB, or a table without columns, is refused with
ValueError before anything is written.
"""

import datetime
import decimal
import math
import os
import struct
import sys
import tempfile

__all__ = ["show"]


def spark_job(argv):
    """The start both Spark drivers share (argv: CODE ROW_CAP): the job's code, its row cap,
    and a running session, whose application and UI are announced to Portico."""
    from pyspark.sql import SparkSession

    code_path, row_cap = argv[1], int(argv[2])
    with open(code_path, encoding="utf-8") as f:
        code = f.read()
    spark = SparkSession.builder.getOrCreate()
    sc = spark.sparkContext
    print("##portico:spark %s %s" % (sc.applicationId, sc.uiWebUrl), flush=True)
    return spark, code, row_cap

_NULL = b"LINKIS_NULL"
_MAX_ROW_BYTES = 2 * 1024 * 1024
# The size cap of a result set (the server's max_result_set_bytes): a table stops before a row
# that would pass it, and says so beside the file, so the server notes the cut.
_MAX_RESULT_BYTES = int(os.environ.get("PORTICO_RESULT_MAX_BYTES") or 0)
_INDEX_STRIDE = 256


def show(rows, columns=None, row_cap=None):
    """Writes `rows` (an iterable of sequences or dicts, a pandas DataFrame, or in a Spark job a
    Spark DataFrame) as a table. Returns the path of the result-set file written."""
    if hasattr(rows, "sparkSession") and hasattr(rows, "schema"):
        names, types, records = _spark_table(rows, row_cap)
        return _write_table(names, types, records)
    columns, rows = _columns_and_rows(rows, columns)
    if not columns:
        raise ValueError("a table needs at least one column")
    types = [_column_type(rows, i) for i in range(len(columns))]

    def records():
        for number, row in enumerate(rows, 1):
            if len(row) != len(columns):
                raise ValueError("row %d has %d values for %d columns" % (number, len(row), len(columns)))
            yield [_text(value, kind) for value, kind in zip(row, types)]

    return _write_table([str(c) for c in columns], types, records())


def _write_table(names, types, records):
    """Writes a table of `records` (lists of bytes or None) to a pending file and announces it."""
    if not names:
        raise ValueError("a table needs at least one column")
    meta = []
    for name, kind in zip(names, types):
        meta.extend([name.encode("utf-8"), kind.encode("ascii"), _NULL])
    path, out = _pending_file()
    index_path = path + ".idx"
    try:
        with out, open(index_path, "wb") as index:
            out.write(b"dolphin" + b"%010d" % 2)
            out.write(_record(meta))
            for number, values in enumerate(records, 1):
                if len(values) != len(names):
                    raise ValueError("row %d has %d values for %d columns" % (number, len(values), len(names)))
                record = _record(values)
                # The limit counts what follows the row's own length field, as Portico's reader does.
                if len(record) - 10 > _MAX_ROW_BYTES:
                    raise ValueError("row %d is over 2 MB (%d bytes): result sets refuse such rows" % (number, len(record)))
                if _MAX_RESULT_BYTES and out.tell() + len(record) > _MAX_RESULT_BYTES:
                    with open(path + ".cut", "w") as note:
                        note.write("cut at the result-set limit of %d bytes\n" % _MAX_RESULT_BYTES)
                    break
                # The row index Portico's own writer keeps: the offset of every 256th row, so a
                # page deep into a big table is one seek away.
                if number > 1 and (number - 1) % _INDEX_STRIDE == 0:
                    index.write(struct.pack("<Q", out.tell()))
                out.write(record)
    except BaseException:
        for leftover in (path, index_path, path + ".cut"):
            if os.path.exists(leftover):
                os.unlink(leftover)
        raise
    sys.stdout.flush()
    print("##portico:result " + os.path.basename(path), flush=True)
    return path


# Spark's type names as Linkis's own Spark engine writes them (its storage types).
_SPARK_TYPES = {"integer": "int", "byte": "tinyint", "short": "smallint", "long": "bigint"}


def _spark_table(df, row_cap):
    """A Spark DataFrame's names, Linkis types and rendered rows, streamed from the executors.

    Values that Python would get wrong are rendered by Spark itself: decimals, dates,
    timestamps (in the session time zone) and intervals as Spark's strings, binary as base64,
    nested types as JSON text. NULL stays NULL, distinct from the string "NULL"."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    fields = df.schema.fields
    names = [f.name for f in fields]
    types = [_SPARK_TYPES.get(f.dataType.typeName(), f.dataType.typeName()) for f in fields]
    # Positional names: duplicate or odd column names cannot collide in the projection.
    plain = df.toDF(*["c%d" % i for i in range(len(fields))])
    exprs = []
    nested = (T.ArrayType, T.MapType, T.StructType) + ((T.VariantType,) if hasattr(T, "VariantType") else ())
    as_text = (T.DecimalType, T.DateType, T.TimestampType, T.DayTimeIntervalType, T.YearMonthIntervalType)
    if hasattr(T, "TimestampNTZType"):
        as_text = as_text + (T.TimestampNTZType,)
    for i, field in enumerate(fields):
        column = F.col("c%d" % i)
        if isinstance(field.dataType, as_text):
            column = column.cast("string")
        elif isinstance(field.dataType, T.BinaryType):
            column = F.base64(column)
        elif isinstance(field.dataType, nested):
            column = F.to_json(column, {"timestampFormat": "yyyy-MM-dd HH:mm:ss[.SSSSSS]"})
        exprs.append(column.alias("c%d" % i))
    # No limit() in the plan for the row cap: under toLocalIterator a limit becomes a shuffle
    # to one partition (an extra stage, and seconds of class loading on a cold driver); the
    # loop below stops at the cap instead, and partitions past it are never computed.
    projected = plain.select(*exprs)

    def records():
        for number, row in enumerate(projected.toLocalIterator(), 1):
            if row_cap is not None and number > row_cap:
                print("##portico:log The result was cut at %d rows (the row cap)" % row_cap, flush=True)
                return
            yield [_spark_text(value, kind) for value, kind in zip(row, types)]

    return names, types, records()


def _spark_text(value, kind):
    if value is None:
        return None
    if kind == "boolean":
        return b"true" if value else b"false"
    if isinstance(value, float):
        if math.isnan(value):
            return b"NaN"
        if math.isinf(value):
            return b"Infinity" if value > 0 else b"-Infinity"
        return repr(value).encode("ascii")
    return str(value).encode("utf-8")


def _columns_and_rows(rows, columns):
    if hasattr(rows, "itertuples") and hasattr(rows, "columns"):
        names = [str(c) for c in rows.columns] if columns is None else list(columns)
        return names, [tuple(r) for r in rows.itertuples(index=False, name=None)]
    rows = list(rows)
    if rows and isinstance(rows[0], dict):
        names = list(rows[0].keys()) if columns is None else list(columns)
        return names, [tuple(r.get(n) for n in names) for r in rows]
    rows = [tuple(r) for r in rows]
    if columns is None:
        width = len(rows[0]) if rows else 0
        columns = ["_c%d" % i for i in range(width)]
    return [str(c) for c in columns], rows


def _is_null(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return type(value).__name__ in ("NaTType", "NAType")


def _kind(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    if isinstance(value, decimal.Decimal):
        return "decimal"
    if isinstance(value, datetime.datetime):
        return "timestamp"
    if isinstance(value, datetime.date):
        return "date"
    if isinstance(value, (bytes, bytearray)):
        return "binary"
    name = type(value).__name__
    if name.startswith("int") or name.startswith("uint"):
        return "bigint"
    if name.startswith("float"):
        return "double"
    if name in ("bool_", "bool"):
        return "boolean"
    if name == "Timestamp":
        return "timestamp"
    return "string"


def _column_type(rows, i):
    kinds = {_kind(row[i]) for row in rows if i < len(row) and not _is_null(row[i])}
    if len(kinds) == 1:
        return kinds.pop()
    if kinds and kinds <= {"bigint", "double"}:
        return "double"
    return "string"


def _text(value, kind):
    if _is_null(value):
        return None
    if kind == "boolean":
        return b"true" if value else b"false"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex().encode("ascii")
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ").encode("utf-8")
    if isinstance(value, float):
        return repr(value).encode("ascii")
    return str(value).encode("utf-8")


def _record(values):
    values = [_NULL if v is None else v for v in values]
    index = b"".join(b"%d," % len(v) for v in values)
    data = b"".join(values)
    return b"%010d%010d" % (10 + len(index) + len(data), len(index)) + index + data


def _pending_file():
    directory = os.environ.get("PORTICO_RESULT_DIR")
    if not directory:
        raise RuntimeError("PORTICO_RESULT_DIR is not set: show() writes result sets of Portico jobs")
    os.makedirs(directory, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=".portico-table-", dir=directory)
    return path, os.fdopen(fd, "wb")


