//! The dolphin bytes, as Linkis's reader expects them, and reading them back.

use std::path::Path;

use super::index::index_path;
use super::*;

/// The 7.5 example built from its documented parts (the concatenated line in linkis-api.md
/// has a stray `0` in the record's index length).
const DOCUMENTED_EXAMPLE: [&str; 9] = [
    "dolphin0000000002",
    "0000000032",
    "0000000007",
    "1,3,11,",
    "aintLINKIS_NULL",
    "0000000013",
    "0000000002",
    "1,",
    "7",
];

/// Every row's values as bytes (`None` for NULL).
type Rows = Vec<Vec<Option<Vec<u8>>>>;

fn all_rows(path: &Path) -> (ResultKind, Vec<Column>, Rows) {
    let mut reader = ResultReader::open(path).unwrap();
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row().unwrap() {
        rows.push(row.values().map(|v| v.map(<[u8]>::to_vec)).collect());
    }
    (reader.kind(), reader.columns().to_vec(), rows)
}

#[test]
fn writes_the_documented_table_example() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("_1.dolphin");
    let mut writer = TableResultWriter::create(&path, &[Column::new("a", "int")]).unwrap();
    writer.row(&[Some("7")]).unwrap();
    assert_eq!(writer.finish().unwrap(), path);
    assert_eq!(String::from_utf8(std::fs::read(&path).unwrap()).unwrap(), DOCUMENTED_EXAMPLE.concat());
}

#[test]
fn reads_the_documented_table_example() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("_1.dolphin");
    std::fs::write(&path, DOCUMENTED_EXAMPLE.concat()).unwrap();
    let (kind, columns, rows) = all_rows(&path);
    assert_eq!(kind, ResultKind::Table);
    assert_eq!(columns, [Column { name: "a".into(), data_type: "int".into(), comment: None }]);
    assert_eq!(rows, [vec![Some(b"7".to_vec())]]);
}

#[test]
fn null_empty_and_unicode_values_keep_apart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("_0.dolphin");
    let columns = [
        Column { name: "名前".into(), data_type: "string".into(), comment: Some("コメント, with comma".into()) },
        Column::new("n", "bigint"),
        Column::new("", "string"),
    ];
    let mut writer = TableResultWriter::create(&path, &columns).unwrap();
    writer.row(&[Some("héllo ✓ 😀"), None, Some("")]).unwrap();
    writer.row::<&str>(&[None, None, None]).unwrap();
    writer.row(&[Some("a,b\n\"c\""), Some("-1"), Some("NULL")]).unwrap();
    writer.finish().unwrap();

    let bytes = std::fs::read(&path).unwrap();
    // NULL is Linkis's marker, empty is a zero length, lengths count bytes (not characters).
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("0000000044000000000815,11,0,héllo ✓ 😀LINKIS_NULL0000000"), "{text}");
    let (_, read_columns, rows) = all_rows(&path);
    assert_eq!(read_columns, columns);
    let v = |s: &str| Some(s.as_bytes().to_vec());
    assert_eq!(
        rows,
        [vec![v("héllo ✓ 😀"), None, v("")], vec![None, None, None], vec![v("a,b\n\"c\""), v("-1"), v("NULL")],]
    );
}

#[test]
fn a_table_with_no_rows_is_its_header_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("_0.dolphin");
    TableResultWriter::create(&path, &[Column::new("x", "double")]).unwrap().finish().unwrap();
    assert_eq!(
        String::from_utf8(std::fs::read(&path).unwrap()).unwrap(),
        "dolphin0000000002000000003500000000071,6,11,xdoubleLINKIS_NULL"
    );
    let (kind, columns, rows) = all_rows(&path);
    assert_eq!((kind, columns.len(), rows.len()), (ResultKind::Table, 1, 0));
}

#[test]
fn many_columns_round_trip_and_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("_0.dolphin");
    let columns: Vec<Column> = (0..1200).map(|i| Column::new(format!("c{i}"), "int")).collect();
    let mut writer = TableResultWriter::create(&path, &columns).unwrap();
    for r in 0..30 {
        let values: Vec<Option<String>> = (0..1200).map(|c| (c % 7 != 3).then(|| format!("{r}:{c}"))).collect();
        writer.row(&values).unwrap();
    }
    assert_eq!(writer.rows(), 30);
    writer.finish().unwrap();

    let mut reader = ResultReader::open(&path).unwrap();
    assert_eq!(reader.columns().len(), 1200);
    assert_eq!(reader.columns()[1199].name, "c1199");
    let page = reader.page(3, 10, 1002..1005).unwrap();
    assert_eq!(page.len(), 10);
    assert_eq!(page[0], [Some("20:1002".to_string()), Some("20:1003".to_string()), None]);
    assert_eq!(page[9][0].as_deref(), Some("29:1002"));
}

#[test]
fn a_row_over_two_megabytes_is_refused_and_leaves_the_file_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("_0.dolphin");
    let mut writer =
        TableResultWriter::create(&path, &[Column::new("a", "string"), Column::new("b", "string")]).unwrap();
    writer.row(&[Some("before"), None]).unwrap();
    let big = vec![b'x'; MAX_ROW_BYTES];
    match writer.row(&[Some(&big[..]), Some(&b""[..])]) {
        Err(TableWriteError::RowTooLarge { bytes, limit }) => assert!(bytes > limit && limit == MAX_ROW_BYTES),
        other => panic!("expected RowTooLarge, got {other:?}"),
    }
    // The largest row that fits is accepted: row length = 10 + index + values.
    let fits = vec![b'y'; MAX_ROW_BYTES - 10 - "2097139,0,".len()];
    writer.row(&[Some(&fits[..]), Some(&b""[..])]).unwrap();
    assert!(matches!(writer.row(&[Some("one value")]), Err(TableWriteError::WrongArity { expected: 2, got: 1 })));
    writer.row(&[Some("after"), Some("")]).unwrap();
    writer.finish().unwrap();

    let (_, _, rows) = all_rows(&path);
    assert_eq!(rows.len(), 3, "the refused rows left nothing behind");
    assert_eq!(rows[0], [Some(b"before".to_vec()), None]);
    assert_eq!(rows[1][0].as_ref().map(Vec::len), Some(fits.len()));
    assert_eq!(rows[2], [Some(b"after".to_vec()), Some(Vec::new())]);
}

#[test]
fn a_table_needs_columns_and_a_metadata_row_that_fits() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(TableResultWriter::create_next(dir.path(), &[]), Err(TableWriteError::NoColumns)));
    let huge = Column { name: "n".into(), data_type: "string".into(), comment: Some("c".repeat(MAX_ROW_BYTES)) };
    assert!(matches!(TableResultWriter::create_next(dir.path(), &[huge]), Err(TableWriteError::RowTooLarge { .. })));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "a refused table leaves no file");
}

#[test]
fn result_files_are_named_in_creation_order_and_never_shared() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("result");
    let text = TextResultWriter::create_next(&results, u64::MAX).unwrap();
    let table = TableResultWriter::create_next(&results, &[Column::new("a", "int")]).unwrap();
    assert!(results.join("_0.dolphin").is_file());
    drop(text);
    assert_eq!(table.path(), results.join("_1.dolphin"));
    std::fs::write(results.join("alias_7.dolphin"), "").unwrap();
    assert_eq!(create_next(&results).unwrap().0, results.join("_8.dolphin"));

    // Writers racing in one directory each get a name of their own.
    let racing = dir.path().join("racing");
    let names: Vec<_> = (0..8)
        .map(|_| {
            let racing = racing.clone();
            std::thread::spawn(move || create_next(&racing).unwrap().0)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let mut numbers: Vec<u64> =
        names.iter().map(|p| number_in_name(&p.file_name().unwrap().to_string_lossy()).unwrap()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..8).collect::<Vec<_>>());
}

#[test]
fn writes_the_documented_text_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("_0.dolphin");
    let mut writer = TextResultWriter::create(&path).unwrap();
    writer.row(b"hello").unwrap();
    writer.row(b"world").unwrap();
    writer.flush().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"dolphin00000000010000000004NULL0000000005hello0000000005world");
}

#[test]
fn pages_through_a_text_result() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("_0.dolphin");
    let mut writer = TextResultWriter::create(&path).unwrap();
    for i in 1..=25 {
        writer.row(format!("row {i}").as_bytes()).unwrap();
    }
    writer.flush().unwrap();
    let mut reader = ResultReader::open(&path).unwrap();
    assert_eq!((reader.kind(), reader.columns().len()), (ResultKind::Text, 0));
    let rows: Vec<String> = reader.page(3, 10, 5..9).unwrap().into_iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(rows, (21..=25).map(|i| format!("row {i}")).collect::<Vec<_>>());
    assert!(ResultReader::open(&path).unwrap().page(9, 10, 0..1).unwrap().is_empty());
}

#[test]
fn pages_through_a_table_result() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("_0.dolphin");
    let mut writer = TableResultWriter::create(&path, &[Column::new("i", "int"), Column::new("s", "string")]).unwrap();
    for i in 0..1000u32 {
        writer.row(&[Some(i.to_string()), Some("x".repeat(i as usize % 50))]).unwrap();
    }
    writer.finish().unwrap();
    let page = ResultReader::open(&path).unwrap().page(7, 100, 0..2).unwrap();
    assert_eq!(page.len(), 100);
    assert_eq!(page[0][0].as_deref(), Some("600"));
    assert_eq!(page[99], [Some("699".to_string()), Some("x".repeat(699 % 50))]);
    assert_eq!(ResultReader::open(&path).unwrap().page(10, 100, 0..2).unwrap().len(), 100);
    assert!(ResultReader::open(&path).unwrap().page(11, 100, 0..2).unwrap().is_empty());
}

#[test]
fn refuses_files_that_are_not_result_sets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.dolphin");
    for bad in [
        "",
        "dolphin",
        "dolphinXXXXXXXXXX",
        "dolphin0000000009",
        "dolphin00000000010000000099NULL",
        "dolphin000000000200000000130000000002x,a",
        "dolphin0000000002000000001300000000025,a",
        "dolphin000000000200000000120000000000ab",
    ] {
        std::fs::write(&path, bad).unwrap();
        assert!(matches!(ResultReader::open(&path), Err(ReadError::Invalid(_))), "{bad:?}");
    }
}

#[test]
fn deep_pages_jump_along_the_row_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("_0.dolphin");
    let mut writer = TableResultWriter::create(&path, &[Column::new("i", "int")]).unwrap();
    for i in 0..5000u32 {
        writer.row(&[Some(i.to_string())]).unwrap();
    }
    writer.finish().unwrap();
    let index = index_path(&path);
    assert_eq!(index, dir.path().join("._0.dolphin.idx"));
    assert_eq!(std::fs::metadata(&index).unwrap().len(), 8 * (4999 / 256));
    let first = |page: u64| ResultReader::open(&path).unwrap().page(page, 100, 0..1).unwrap()[0][0].clone();
    assert_eq!(first(31).as_deref(), Some("3000"));

    // Damage row 5's length: only a reader that jumps over it can still reach row 3000.
    let mut bytes = std::fs::read(&path).unwrap();
    let header = "dolphin0000000002".len() + 10 + 10 + "1,3,11,".len() + "iintLINKIS_NULL".len();
    let row5 = header + (0..5).map(|i: u32| 20 + 2 + i.to_string().len()).sum::<usize>();
    bytes[row5..row5 + 10].copy_from_slice(b"XXXXXXXXXX");
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(first(31).as_deref(), Some("3000"), "the index was used");
    assert!(ResultReader::open(&path).unwrap().page(1, 10, 0..1).is_err(), "the damage is real");

    // An entry pointing past the file is not trusted; without an index the reader walks.
    std::fs::write(&index, u64::MAX.to_le_bytes()).unwrap();
    assert!(ResultReader::open(&path).unwrap().page(31, 100, 0..1).is_err());
    std::fs::remove_file(&index).unwrap();
    assert!(ResultReader::open(&path).unwrap().page(31, 100, 0..1).is_err());

    // A text result set written over the name takes the stale index away with it.
    std::fs::write(&index, 17u64.to_le_bytes()).unwrap();
    TextResultWriter::create(&path).unwrap().flush().unwrap();
    assert!(!index.exists());
}

#[test]
fn a_result_still_being_written_shows_its_complete_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("_0.dolphin");
    let mut writer = TableResultWriter::create(&path, &[Column::new("s", "string")]).unwrap();
    for i in 0..3 {
        writer.row(&[Some(format!("row {i}"))]).unwrap();
    }
    writer.finish().unwrap();
    let whole = std::fs::read(&path).unwrap();
    for cut in [3, 12, 22] {
        std::fs::write(&path, &whole[..whole.len() - cut]).unwrap();
        let (_, _, rows) = all_rows(&path);
        assert_eq!(rows.len(), 2, "cut by {cut} bytes: the last row is not there yet");
        assert_eq!(ResultReader::open(&path).unwrap().skip(10).unwrap(), 2);
    }
}
