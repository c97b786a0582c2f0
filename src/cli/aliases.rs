//! linkis-cli's single-dash long options (`-engineType shell-1 -code 'pwd'`), rewritten to
//! ours before clap sees them, so scripts written for linkis-cli move over by changing the
//! command's name (`linkis-cli -engineType …` and `portico -engineType …` both mean `run`).

use clap::CommandFactory;

use super::args::Cli;

/// Each linkis-cli option and the option of `portico run` it means.
const LINKIS_CLI: &[(&str, &str)] = &[
    ("-engineType", "--engine"),
    ("-codeType", "--run-type"),
    ("-code", "--code"),
    ("-codePath", "--file"),
    ("-varMap", "--var"),
    ("-labelMap", "--label"),
    ("-confMap", "--startup-conf"),
    ("-runtimeMap", "--conf"),
    ("-submitUser", "--user"),
    ("-proxyUser", "--proxy-user"),
    ("-creator", "--creator"),
];

/// Whether `arg` is a linkis-cli option (a command line starting with one means `run`).
pub fn is_linkis_option(arg: &str) -> bool {
    LINKIS_CLI.iter().any(|(alias, _)| *alias == arg)
}

/// The arguments (without the program name) with linkis-cli options replaced by ours. A value
/// is never rewritten: the word after any option that takes one is copied as it is, so
/// `-c -code` runs the code `-code`. Nothing after `--` is touched.
pub fn rewrite(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len() + 1);
    if args.first().is_some_and(|first| is_linkis_option(first)) {
        out.push("run".to_string());
    }
    let subcommand = out.first().or(args.first()).cloned().unwrap_or_default();
    let takes_value = value_options(&subcommand);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            out.push(arg);
            out.extend(args.by_ref());
            break;
        }
        let ours = LINKIS_CLI.iter().find(|(alias, _)| *alias == arg).map(|(_, ours)| ours.to_string());
        let has_value = ours.is_some() || takes_value.contains(&arg);
        out.push(ours.unwrap_or(arg));
        if has_value {
            out.extend(args.next());
        }
    }
    out
}

/// Every spelling (`-c`, `--code`, aliases) of an option of `subcommand` (or a global one)
/// that takes a separate value.
fn value_options(subcommand: &str) -> Vec<String> {
    let mut command = Cli::command();
    command.build();
    let mut names = Vec::new();
    let mut collect = |cmd: &clap::Command| {
        for arg in cmd.get_arguments().filter(|a| !a.is_positional() && a.get_action().takes_values()) {
            names.extend(arg.get_short_and_visible_aliases().unwrap_or_default().into_iter().map(|c| format!("-{c}")));
            names.extend(arg.get_long_and_visible_aliases().unwrap_or_default().into_iter().map(|l| format!("--{l}")));
        }
    };
    collect(&command);
    if let Some(sub) = command.find_subcommand(subcommand) {
        collect(sub);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn linkis_cli_options_become_ours_and_imply_run() {
        assert_eq!(
            rewrite(words("-engineType shell-1 -codeType shell -code pwd -varMap a=1 -submitUser bob")),
            words("run --engine shell-1 --run-type shell --code pwd --var a=1 --user bob")
        );
        assert_eq!(
            rewrite(words("run -engineType python-3 -codePath x.py")),
            words("run --engine python-3 --file x.py")
        );
    }

    #[test]
    fn values_and_everything_after_a_double_dash_stay_as_written() {
        assert_eq!(
            rewrite(words("run -c -code -e -codeType -codeType sh")),
            words("run -c -code -e -codeType --run-type sh")
        );
        assert_eq!(rewrite(words("log 5 -f -code")), words("log 5 -f --code"), "-f of log takes no value");
        assert_eq!(rewrite(words("run --code -varMap")), words("run --code -varMap"));
        assert_eq!(rewrite(words("status 5 -- -code")), words("status 5 -- -code"));
        assert_eq!(rewrite(words("history --status Failed")), words("history --status Failed"));
    }

    #[test]
    fn every_alias_names_an_option_that_exists() {
        let options = value_options("run");
        for (alias, ours) in LINKIS_CLI {
            assert!(options.iter().any(|o| o == ours), "{alias} maps to {ours}, which is not an option taking a value");
        }
    }
}
