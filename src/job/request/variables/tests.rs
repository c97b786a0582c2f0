//! Unit tests of `${…}` substitution: Linkis's documented values for 2024-02-29, the
//! arithmetic, and what is refused or left alone.

use super::*;
use serde_json::json;

/// 2024-03-01 11:30 UTC: run_date defaults to 2024-02-29 (the example of Linkis's docs).
fn march_first() -> u64 {
    (clock::days_from_civil(2024, 3, 1) as u64) * clock::DAY_MS + 11 * 3_600_000 + 30 * 60_000
}

fn run(code: &str, given: Value) -> Result<Substituted, String> {
    let given = given.as_object().cloned().unwrap_or_default();
    substitute(code, &given, march_first(), 1 << 20).map_err(|e| e.to_string())
}

fn replaced(code: &str, given: Value) -> String {
    run(code, given).unwrap_or_else(|e| panic!("{code}: {e}")).code
}

#[test]
fn built_ins_match_linkis_documented_values() {
    let expected = [
        ("run_date", "20240229"),
        ("run_date_std", "2024-02-29"),
        ("run_today", "20240301"),
        ("run_today_std", "2024-03-01"),
        ("run_mon", "202402"),
        ("run_mon_std", "2024-02"),
        ("run_month_begin", "20240201"),
        ("run_month_begin_std", "2024-02-01"),
        ("run_month_now_begin", "20240201"),
        ("run_month_now_begin_std", "2024-02-01"),
        ("run_month_end", "20240229"),
        ("run_month_end_std", "2024-02-29"),
        ("run_month_now_end", "20240229"),
        ("run_month_now_end_std", "2024-02-29"),
        ("run_quarter_begin", "20240101"),
        ("run_quarter_end", "20240331"),
        ("run_half_year_begin", "20240101"),
        ("run_half_year_end", "20240630"),
        ("run_year_begin", "20240101"),
        ("run_year_end", "20241231"),
        ("run_quarter_begin_std", "2024-01-01"),
        ("run_quarter_end_std", "2024-03-31"),
        ("run_half_year_begin_std", "2024-01-01"),
        ("run_half_year_end_std", "2024-06-30"),
        ("run_year_begin_std", "2024-01-01"),
        ("run_year_end_std", "2024-12-31"),
        ("run_today_h", "2024030111"),
        ("run_today_h_std", "2024-03-01 11"),
    ];
    for (name, value) in expected {
        assert_eq!(replaced(&format!("${{{name}}}"), json!({})), value, "{name}");
        // The same with run_date given, and in its other form.
        assert_eq!(replaced(&format!("${{{name}}}"), json!({"run_date": "2024-02-29"})), value, "{name}");
    }
}

#[test]
fn run_date_given_moves_every_other_date() {
    let vars = json!({"run_date": "20211115"});
    assert_eq!(
        replaced(
            "${run_today} ${run_month_end} ${run_month_now_begin} ${run_quarter_begin_std} ${run_half_year_end}",
            vars
        ),
        "20211116 20211130 20211001 2021-10-01 20211231"
    );
    // run_today is the next day, and the "now" month is the one before run_today's.
    assert_eq!(
        replaced("${run_today} ${run_month_now_begin} ${run_month_now_end}", json!({"run_date": 20211130})),
        "20211201 20211101 20211130"
    );
    assert_eq!(replaced("${run_today_h}", json!({"run_today_h": "2021120123"})), "2021120123");
    assert_eq!(
        replaced("${run_today_h+1} ${run_today_h_std-24}", json!({"run_today_h": "2021123123"})),
        "2022010100 2021-12-30 23"
    );
}

#[test]
fn date_arithmetic_moves_by_each_variable_s_unit() {
    let vars = json!({"run_date": "20240331", "n": "7"});
    let cases = [
        ("${run_date-1}", "20240330"),
        ("${run_date + 1}", "20240401"),
        ("${ run_date_std-31 }", "2024-02-29"),
        ("${run_date+n}", "20240407"),
        ("${run_today-1}", "20240331"),
        ("${run_month_begin-1}", "20240201"),
        ("${run_month_end-1}", "20240229"),
        ("${run_month_end_std+11}", "2025-02-28"),
        ("${run_mon-3}", "202312"),
        ("${run_mon_std+10}", "2025-01"),
        ("${run_quarter_begin-1}", "20231001"),
        ("${run_quarter_end+1}", "20240630"),
        ("${run_half_year_end-1}", "20231231"),
        ("${run_year_begin_std+1}", "2025-01-01"),
        ("${run_year_end-2}", "20221231"),
    ];
    for (code, value) in cases {
        assert_eq!(replaced(code, vars.clone()), value, "{code}");
    }
}

#[test]
fn custom_variables_take_linkis_arithmetic() {
    let vars = json!({"f": "20.1", "n": 10, "id": "007", "name": "part", "two": "2"});
    assert_eq!(replaced("${f-1} ${n*3} ${n/4} ${n/two} ${n+0.5}", vars.clone()), "19.1 30 2.5 5 10.5");
    // Without arithmetic a value is shown as the client wrote it.
    assert_eq!(replaced("${id} ${id+1} ${name+_x} ${name+two}", vars.clone()), "007 8 part_x part2");
    assert_eq!(replaced("${flag}", json!({"flag": true})), "true");
    assert_eq!(replaced("[${empty}]", json!({"empty": ""})), "[]");
}

#[test]
fn what_is_not_a_reference_stays_without_a_word() {
    let out = run("${a:-x} ${#list} ${1} ${a b} $${n} ${ ${n} ${n", json!({"n": "1"})).unwrap();
    assert_eq!(out.code, "${a:-x} ${#list} ${1} ${a b} $1 ${ 1 ${n");
    assert!(out.notes.iter().all(|(level, _)| *level == Level::Info), "{:?}", out.notes);
}

#[test]
fn unknown_variables_stay_with_a_warning_and_used_ones_are_listed() {
    let out = run("echo ${HOME} ${HOME} ${run_date-1} ${x}", json!({"x": "1"})).unwrap();
    assert_eq!(out.code, "echo ${HOME} ${HOME} 20240228 1");
    let lines: Vec<_> = out.notes.iter().map(|(level, line)| (*level, line.as_str())).collect();
    assert_eq!(
        lines,
        vec![
            (Level::Info, "Variable expression [${run_date-1}] = 20240228"),
            (Level::Info, "Variable expression [${x}] = 1"),
            (
                Level::Warn,
                "Use undefined variables or use the set method: [${HOME}], left as written (使用了未定义的变量)"
            ),
        ]
    );
    let many: String = (0..150).map(|i| format!("${{u{i}}}")).collect();
    let notes = run(&many, json!({})).unwrap().notes;
    assert_eq!(notes.len(), MAX_NOTES + 1);
    assert!(notes[MAX_NOTES].1.contains("50 more undefined"), "{:?}", notes[MAX_NOTES]);
    let ignored = run("x", json!({"run_today": "20200101"})).unwrap().notes;
    assert!(ignored[0].1.contains("params.variable.run_today is ignored"), "{ignored:?}");
}

#[test]
fn impossible_arithmetic_is_refused_naming_the_expression() {
    let vars = json!({"s": "text", "n": "4", "run_date": "20240229"});
    for (code, error) in [
        ("${run_date*2}", "20046"),
        ("${run_date-x}", "20042"),
        ("${run_date-}", "20042"),
        ("${run_date+99999999}", "20042"),
        ("${run_year_end+9999}", "20042"),
        ("${run_today_h-99999999999999999}", "20042"),
        ("${n/0}", "20047"),
        ("${n*s}", "20047"),
        ("${s-1}", "20049"),
    ] {
        let message = run(code, vars.clone()).expect_err(code);
        assert!(message.contains(error) && message.contains(&format!("[{code}]")), "{code}: {message}");
    }
    for (vars, error) in [
        (json!({"run_date": "2024-13-01"}), "params.variable.run_date"),
        (json!({"run_date": "yesterday"}), "params.variable.run_date"),
        (json!({"run_today_h": "2024010124"}), "params.variable.run_today_h"),
        (json!({"x": [1]}), "params.variable.x must be"),
        (json!({"run_date": "99991231"}), "params.variable.run_date"),
    ] {
        let message = run("x", vars.clone()).expect_err(&vars.to_string());
        assert!(message.contains(error) && message.contains("20009"), "{message}");
    }
}

#[test]
fn substitution_cannot_grow_the_code_past_the_limit() {
    let given = json!({"big": "x".repeat(1000)}).as_object().cloned().unwrap();
    let error = substitute(&"${big}".repeat(100), &given, march_first(), 10_000).unwrap_err();
    assert!(error.to_string().contains("after variable substitution"), "{error}");
    assert!(substitute(&"${big}".repeat(10), &given, march_first(), 10_000).is_ok());
}
