//! Scala jobs on Spark: the code is compiled, not fed to a REPL. A REPL (`spark-shell`) exits
//! 0 after printing a compile error or an exception, and `-i` can deadlock on class
//! initialisation; compiled, a compile error fails the compiler and an uncaught exception fails
//! the driver, so the job ends `Failed` either way.
//!
//! The code is wrapped in `object PorticoJob { def main … }` with `spark` and `sc` ready and
//! `spark.implicits._` imported; an uncaught exception is reported in the job's error slot
//! (`##portico:error`) and rethrown, so the driver exits 1 with its stack trace in the log. Definitions written at the top level for a REPL (`case class`,
//! `class`, `object`, `trait`, `import` lines starting in column 0) are hoisted out of `main`,
//! whole to their closing brace, so they are members of the program rather than local classes.
//! The job's command is `sh`: compile with the Scala compiler in Spark's own jars, then `exec`
//! `spark-submit --class PorticoJob job.jar`.

/// The wrapped source, in the job's working directory.
pub(super) const SOURCE: &str = "PorticoJob.scala";
/// The compiled program.
pub(super) const JAR: &str = "portico-job.jar";
/// The entry point.
pub(super) const MAIN_CLASS: &str = "PorticoJob";

/// `sh -c` script: `$1` the compiler's classpath, `$2` the source, `$3` the jar, then the
/// `spark-submit` command line to `exec`.
/// A compile error goes to the log whole, and its first line to the job's error slot.
pub(super) const COMPILE_THEN_SUBMIT: &str = "jars=\"$1\"; src=\"$2\"; jar=\"$3\"; shift 3\n\
    if ! out=$(\"${JAVA_HOME:+$JAVA_HOME/bin/}java\" -cp \"$jars\" scala.tools.nsc.Main -usejavacp -nowarn \
    -d \"$jar\" \"$src\" 2>&1); then\n\
    printf '%s\\n' \"$out\" >&2\n\
    first=$(printf '%s\\n' \"$out\" | grep -m1 'error' | sed 's/^[^ ]*: *//')\n\
    echo \"##portico:error Scala compile error: ${first:-see the log}\"\n\
    exit 1\n\
    fi\n\
    exec \"$@\"\n";

/// What starts a top-level definition in REPL-style code.
const DEFINITIONS: [&str; 8] =
    ["case class ", "class ", "object ", "trait ", "sealed ", "abstract class ", "final case class ", "import "];

/// The code as a program.
pub(super) fn wrap(code: &str) -> String {
    let (hoisted, body) = split_definitions(code);
    let indented: String = body.lines().map(|line| format!("      {line}\n")).collect();
    format!(
        "{hoisted}\n\
         object {MAIN_CLASS} {{\n  \
           def main(args: Array[String]): Unit = {{\n    \
             val spark = org.apache.spark.sql.SparkSession.builder.getOrCreate()\n    \
             val sc = spark.sparkContext\n    \
             import spark.implicits._\n    \
             println(\"##portico:spark \" + sc.applicationId + \" \" + sc.uiWebUrl.getOrElse(\"None\"))\n    \
             try {{\n\
{indented}    \
             }} catch {{\n      case e: Throwable =>\n        \
               println(\"##portico:error \" + e.getClass.getName + \": \" + String.valueOf(e.getMessage).replace('\\n', ' '))\n        \
               throw e\n    \
             }} finally {{\n      spark.stop()\n    }}\n  \
           }}\n\
         }}\n"
    )
}

/// The top-level definitions (whole, to their closing brace) and the statements, in order.
fn split_definitions(code: &str) -> (String, String) {
    let (mut hoisted, mut body) = (String::new(), String::new());
    let mut depth: i64 = 0;
    let mut in_definition = false;
    for line in code.lines() {
        if !in_definition && DEFINITIONS.iter().any(|d| line.starts_with(d)) {
            in_definition = true;
            depth = 0;
        }
        if in_definition {
            hoisted.push_str(line);
            hoisted.push('\n');
            depth += brace_balance(line);
            if depth <= 0 && !line.trim_end().ends_with(['=', ',', '(']) {
                in_definition = false;
            }
        } else {
            body.push_str(line);
            body.push('\n');
        }
    }
    (hoisted, body)
}

/// `{` and `(` opened less closed on a line, outside string literals.
fn brace_balance(line: &str) -> i64 {
    let mut balance = 0;
    let mut in_string = false;
    let mut previous = ' ';
    for c in line.chars() {
        match c {
            '"' if previous != '\\' => in_string = !in_string,
            '{' | '(' if !in_string => balance += 1,
            '}' | ')' if !in_string => balance -= 1,
            _ => {}
        }
        previous = c;
    }
    balance
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_hoisted_whole_and_statements_run_in_main() {
        let code =
            "import scala.util.Try\ncase class P(a: Int, b: String)\nobject Util {\n  def twice(x: Int) = x * 2\n}\n\
                    val ds = Seq(P(1, \"{\"), P(2, \"x\")).toDS()\nprintln(ds.filter(_.a > 1).count())\n";
        let (hoisted, body) = split_definitions(code);
        assert_eq!(
            hoisted,
            "import scala.util.Try\ncase class P(a: Int, b: String)\nobject Util {\n  def twice(x: Int) = x * 2\n}\n"
        );
        assert_eq!(body, "val ds = Seq(P(1, \"{\"), P(2, \"x\")).toDS()\nprintln(ds.filter(_.a > 1).count())\n");
        let program = wrap(code);
        assert!(program.contains("object PorticoJob {") && program.contains("import spark.implicits._"));
        assert!(program.find("case class P").unwrap() < program.find("object PorticoJob").unwrap());
    }
}
