//! The README's walk-through, run as written, as a new operator would: in a
//! fresh directory, right after the README's first command (`orgd serve` on
//! the default `orgd.db`, which prints a generated root key), with the
//! answers it promises (`# → STATUS` after each curl) checked. The only
//! substitutions are the ones the README itself allows: the built binary for
//! `cargo run --release --`, and another port for 8080, chosen as the README
//! says (`ORGD_LISTEN`).

use std::path::Path;

/// The shell text of the section headed `## A walk-through`: its indented
/// code blocks, in order.
fn walkthrough(readme: &str) -> String {
    let start = readme
        .find("## A walk-through")
        .expect("README has a walk-through");
    let rest = &readme[start + 3..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    section
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The status each curl command promises, in order: every curl of the
/// walk-through must say what it answers.
fn promised_statuses(script: &str) -> Vec<u16> {
    let joined = script.replace("\\\n", " ");
    joined
        .lines()
        .filter(|l| l.trim_start().starts_with("curl "))
        .map(|l| {
            let promise = l
                .split("# → ")
                .nth(1)
                .unwrap_or_else(|| panic!("a curl of the walk-through promises nothing: {l}"));
            promise[..3]
                .parse()
                .unwrap_or_else(|_| panic!("no status promised: {l}"))
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn the_readme_walk_through_works_as_written_after_the_first_command() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let first_lines: String = readme.lines().take(12).collect::<Vec<_>>().join("\n");
    assert!(first_lines.contains("    cargo run --release -- serve"));
    assert!(first_lines.contains("    cargo test --workspace"));

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let bin = env!("CARGO_BIN_EXE_orgd");

    // The README's first command, in the same directory: it makes orgd.db
    // with a generated root key, then the operator stops it.
    let mut first = {
        let mut cmd = tokio::process::Command::new(bin);
        cmd.arg("serve")
            .current_dir(dir.path())
            .env("ORGD_LISTEN", &listen)
            .env("ORGD_LOG", "warn,orgd::cli=info")
            .env_remove("ORGD_DATABASE_URL")
            .env_remove("ORGD_BOOTSTRAP_KEY")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        cmd.spawn().unwrap()
    };
    let mut err = tokio::io::BufReader::new(first.stderr.take().unwrap());
    let mut printed = String::new();
    loop {
        use tokio::io::AsyncBufReadExt;
        let mut line = String::new();
        assert!(err.read_line(&mut line).await.unwrap() > 0, "{printed}");
        printed.push_str(&line);
        if line.contains("listening on") {
            break;
        }
    }
    assert!(
        printed.contains("(shown once, store it now): orgd_"),
        "{printed}"
    );
    assert!(dir.path().join("orgd.db").exists());
    let pid = nix::unistd::Pid::from_raw(i32::try_from(first.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    assert!(first.wait().await.unwrap().success());

    // The walk-through, as written but for the binary and the port.
    let script = walkthrough(&readme);
    let promised = promised_statuses(&script);
    assert!(promised.len() >= 10, "{promised:?}");
    let script = script
        .replace("cargo run --release --", bin)
        .replace("localhost:8080", &format!("localhost:{port}"));
    let harness = format!(
        "set -eu\n\
         export ORGD_LISTEN={listen}\n\
         curl() {{ command curl -w '\\n@@status %{{http_code}}\\n' \"$@\"; }}\n\
         {script}\n\
         echo '@@done'\n\
         kill %1\n\
         wait %1\n"
    );
    let out = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&harness)
        .current_dir(dir.path())
        .env_remove("ORGD_DATABASE_URL")
        .env_remove("ORGD_BOOTSTRAP_KEY")
        .env_remove("ORGD_LOG")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the walk-through failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("@@done"), "{stdout}\n{stderr}");
    // The readiness loop's curl and the walk-through's, in order.
    let statuses: Vec<u16> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("@@status "))
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let (waiting, answered) = statuses.split_at(statuses.len() - promised.len());
    assert!(
        waiting.iter().all(|s| *s != 401) && waiting.last() == Some(&200),
        "the server came up with the chosen root key: {waiting:?}\n{stderr}"
    );
    assert_eq!(answered, promised, "{stdout}\n{stderr}");
    assert!(!statuses.contains(&401), "{stdout}");
    // The chain verified, over HTTP and from the command line.
    assert!(stdout.contains("\"valid\":true"), "{stdout}");
    assert!(stdout.contains("\"valid\": true"), "{stdout}");
    assert!(!stderr.contains("WARN"), "{stderr}");
}
