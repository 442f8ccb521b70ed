//! Hostile input and a hostile environment: the program never panics. Scenario errors are
//! positioned and printable whatever characters precede them (multi-byte UTF-8, a byte-order
//! mark, tabs, CRLF line ends), bytes that are not UTF-8 and oversized files included; `check`
//! reports every file of a folder; `replay` without a terminal says so; a closed or full
//! standard output ends every printing command with an exit code instead of a panic. And a
//! seeded mutation fuzzer over every file in scenarios/ (`RECOVERYSIM_FUZZ_CASES`, default
//! 3000) finds no panic, no hang and no error without a line and column.

use crate::cli::recoverysim;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use recoverysim::scenario::ScenarioError;
use recoverysim::scenario::load::{MAX_FILE_BYTES, parse_bytes};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What can come before an error on its line: one character of each UTF-8 length, a tab.
const CLASSES: &[(&str, &str)] =
    &[("ascii", "a"), ("2-byte", "é"), ("3-byte", "ｘ"), ("4-byte", "😀"), ("tab", "\t"), ("zwj", "\u{200d}")];

/// Loads `bytes` under `catch_unwind`, renders its error the same way, and checks the error is
/// positioned and its rendering says `file:line:column`. `Ok(None)` when it loaded.
fn load_and_render(bytes: &[u8]) -> Result<Option<(ScenarioError, String)>, String> {
    let loaded = std::panic::catch_unwind(|| parse_bytes("fuzz.toml", bytes)).map_err(|_| "loading panicked")?;
    let Err(e) = loaded else { return Ok(None) };
    let shown = std::panic::catch_unwind(|| e.to_string()).map_err(|_| format!("printing panicked: {e:?}"))?;
    let Some((line, column)) = e.position else { return Err(format!("no line and column: {shown}")) };
    if !shown.contains(&format!("fuzz.toml:{line}:{column}")) || !shown.contains('^') {
        return Err(format!("not rendered with its position {line}:{column} and a caret: {shown}"));
    }
    Ok(Some((e, shown)))
}

/// 1-based line and column (in characters) of the first `needle` in `text`.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in {text:?}"));
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    (text[..at].matches('\n').count() + 1, text[line_start..at].chars().count() + 1)
}

/// Each character class before the error, on line 1 and on line 2, with LF and CRLF line ends,
/// after a byte-order mark or not: the error is where the text says, and printing it works.
#[test]
fn an_error_after_any_character_is_positioned_and_printed() {
    // (text with `C` for the character, what the error points at: `C` is the character)
    let shapes: &[(&str, &str)] = &[
        ("name = C\"x\"\n", "C"),                           // the character itself is the error
        ("name = \"C\" seed = 1\n", "seed"),                // after a string holding it
        ("name = \"CC\"\nseed = \"C\"\n", "\"C\""),         // a value of the wrong type, line 2
        ("about = \"C\"\nname = \"x\"\nseed = C5\n", "C5"), // a bad value after the character
        ("name = \"x\" # C\nsede = 1\n", "sede"),           // an unknown key after a comment
        ("CC = 1\n", "CC"),                                 // a bad key
    ];
    // Whitespace is no error itself: the error comes after it on its line.
    let whitespace: &[(&str, &str)] = &[
        ("name =C5\n", "5"),
        ("name = \"x\"\nseed =C\"y\"\n", "\"y\""),
        ("name = \"x\"\nCsede = 1\n", "sede"),
        ("name = \"x\"\r\nabout = \"CC\"C sede = 1\n", "sede"),
    ];
    let mut checked = 0;
    for (class, c) in CLASSES {
        let shapes = if *class == "tab" { whitespace } else { shapes };
        for (shape, at) in shapes {
            for crlf in [false, true] {
                for bom in [false, true] {
                    let crlf_if = |t: String| if crlf { t.replace('\n', "\r\n").replace("\r\r", "\r") } else { t };
                    let mut text = crlf_if(shape.replace('C', c));
                    // Where the error is: the needle found in the shape, before `C` is replaced.
                    let before = crlf_if(shape[..shape.find(at).expect("the needle is in the shape")].replace('C', c));
                    let expected = position_of(&format!("{before}\u{0}"), "\u{0}");
                    if bom {
                        text.insert(0, '\u{feff}');
                    }
                    let what = format!("{class} in {shape:?}, crlf {crlf}, bom {bom}");
                    let (e, shown) = match load_and_render(text.as_bytes()) {
                        Ok(Some(e)) => e,
                        Ok(None) => panic!("{what}: loaded"),
                        Err(why) => panic!("{what}: {why}"),
                    };
                    assert_eq!(e.position, Some(expected), "{what}:\n{shown}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, (CLASSES.len() - 1) * 6 * 4 + 4 * 4);
}

/// A byte-order mark at the start is skipped: the file loads as without it, with CRLF too.
#[test]
fn a_byte_order_mark_is_skipped() {
    for f in scenario_files() {
        let text = std::fs::read_to_string(&f).expect("bundled scenario");
        let plain = format!("{:?}", parse_bytes("s.toml", text.as_bytes()).expect("loads"));
        let bom = format!("\u{feff}{text}");
        assert_eq!(format!("{:?}", parse_bytes("s.toml", bom.as_bytes()).expect("loads")), plain, "{}", f.display());
        // A multi-line string keeps its line ends (TOML allows either).
        let crlf = format!("{:?}", parse_bytes("s.toml", bom.replace('\n', "\r\n").as_bytes()).expect("loads"));
        assert_eq!(crlf.replace("\\r\\n", "\\n"), plain, "{}", f.display());
        assert_eq!(
            format!("{:?}", recoverysim::scenario::parse_str("s.toml", &bom).expect("loads")),
            plain,
            "parse_str skips it too"
        );
    }
}

/// Bytes that are not UTF-8 are an error at the first of them; the line is shown with U+FFFD.
#[test]
fn invalid_utf8_is_an_error_at_its_first_byte() {
    let cases: &[(&[u8], (usize, usize), &str)] = &[
        (b"name = \"x\"\nabout = \"\xff\"\n", (2, 10), "a byte that is not UTF-8"),
        (b"name = \"\xc3\xa9\xe2\x82\"\n", (1, 10), "2 bytes that are not UTF-8"),
        (b"\xef\xbb\xbfname = \"\xc0\xaf\"", (1, 9), "a byte that is not UTF-8"),
        (b"name = \"x\"\r\n\tabout = \"\xed\xa0\x80\"", (2, 11), "a byte that is not UTF-8"),
        (b"name = \"x\"\nabout = \"\xf0\x9f\x98", (2, 10), "cut short by the end of the file"),
        (b"\xff", (1, 1), "a byte that is not UTF-8"),
    ];
    for (bytes, at, what) in cases {
        let (e, shown) = load_and_render(bytes).expect("no panic, positioned").expect("an error");
        assert_eq!(e.position, Some(*at), "{shown}");
        assert!(e.message.contains(what), "{shown}");
        assert!(shown.contains('\u{fffd}'), "{shown}");
    }
}

/// A file over the size limit: an error where the limit is crossed, with the size and the limit.
#[test]
fn an_oversized_file_is_an_error_where_the_limit_is_crossed() {
    let limit = MAX_FILE_BYTES as usize;
    let mut text = "name = \"big\"\n".to_string();
    while text.len() <= limit {
        text.push_str("# a comment line that pads the file past its limit: é ｘ 😀\n");
    }
    let (e, shown) = load_and_render(text.as_bytes()).expect("no panic, positioned").expect("an error");
    let expected = {
        let cut = text.floor_char_boundary(limit);
        let before = &text[..cut];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
    };
    assert_eq!(e.position, Some(expected), "{shown}");
    assert!(e.message.contains(&format!("limited to {MAX_FILE_BYTES} bytes")), "{shown}");
    // From a file, with its size: the binary reads no more than one byte past the limit.
    let dir = temp_dir("big");
    let path = dir.join("big.toml");
    std::fs::write(&path, &text).expect("writes");
    let out = recoverysim(&["run", path.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("the file is too large ({} bytes;", text.len())), "{stderr}");
    assert!(stderr.contains(&format!("big.toml:{}:{}", expected.0, expected.1)), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `check DIR` with bad files among good ones reports every file, each bad one with its
/// position, in every format.
#[test]
fn check_reports_every_file_of_a_folder() {
    let dir = temp_dir("check");
    let good = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/baseline.toml"))
        .expect("bundled scenario");
    // (file name, contents, where its error is; `None`: it passes)
    type Case = (&'static str, Vec<u8>, Option<(usize, usize)>);
    let files: &[Case] = &[
        ("a-fullwidth.toml", "name = ｘ\"x\"\n".into(), Some((1, 8))),
        ("b-bom.toml", format!("\u{feff}{good}").into_bytes(), None),
        ("c-bom-error.toml", "\u{feff}nmae = \"x\"\n".into(), Some((1, 1))),
        ("d-emoji.toml", "name = \"😀\"\nseed = 😀\n".into(), Some((2, 8))),
        ("e-invalid-utf8.toml", b"name = \"\xff\"\n".to_vec(), Some((1, 9))),
        ("f-good.toml", good.clone().into_bytes(), None),
        ("g-oversized.toml", vec![b'#'; MAX_FILE_BYTES as usize + 10], Some((1, MAX_FILE_BYTES as usize + 1))),
        ("h-crlf-tab.toml", "name = \"x\"\r\nseed =\t\"é\"\r\n".into(), Some((2, 8))),
    ];
    for (name, bytes, _) in files {
        std::fs::write(dir.join(name), bytes).expect("writes");
    }
    let d = dir.to_str().expect("utf-8");
    let out = recoverysim(&["check", d]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    for (name, _, at) in files {
        match at {
            Some((l, c)) => {
                assert!(stdout.contains(&format!("ERROR {}", dir.join(name).display())), "{name}: {stdout}");
                assert!(stdout.contains(&format!("{name}:{l}:{c}")), "{name}: {stdout}");
            }
            None => assert!(stdout.contains(&format!("ok    {}", dir.join(name).display())), "{name}: {stdout}"),
        }
    }
    assert!(stdout.ends_with("2 passed, 6 failed\n"), "{stdout}");
    let json = recoverysim(&["check", d, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON object");
    assert_eq!((v["passed"].as_u64(), v["errors"].as_u64()), (Some(2), Some(6)));
    for (entry, (name, _, at)) in v["scenarios"].as_array().expect("entries").iter().zip(files) {
        assert!(entry["file"].as_str().is_some_and(|f| f.ends_with(name)), "{entry}");
        if let Some((l, c)) = at {
            assert_eq!((entry["line"].as_u64(), entry["column"].as_u64()), (Some(*l as u64), Some(*c as u64)));
        }
    }
    let github = String::from_utf8_lossy(&recoverysim(&["check", d, "--format", "github"]).stdout).to_string();
    assert_eq!(github.matches("::error file=").count(), 6, "{github}");
    assert!(github.contains("line=2,col=8,title=invalid scenario"), "{github}");
    let junit = String::from_utf8_lossy(&recoverysim(&["check", d, "--format", "junit"]).stdout).to_string();
    assert!(roxmltree::Document::parse(&junit).is_ok(), "{junit}");
    assert_eq!(junit.matches("<error type=\"invalid-scenario\"").count(), 6, "{junit}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `replay` with standard output not a terminal, or `TERM=dumb`: a message and exit code 2,
/// before anything is simulated.
#[test]
fn replay_without_a_terminal_says_so() {
    let out = recoverysim(&["replay", "scenarios/baseline.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("replay needs an interactive terminal: standard output is not a terminal"), "{stderr}");
    assert!(!stderr.contains("simulating") && !stderr.contains("panicked"), "{stderr}");
    // A real terminal (tmux) that says it is dumb; afterwards the terminal is not in raw mode.
    if std::process::Command::new("tmux").arg("-V").output().is_err() {
        println!("skipped the TERM=dumb half: tmux is not installed");
        return;
    }
    let session = format!("recoverysim-dumb-{}", std::process::id());
    let cmd = format!(
        "cd {} && TERM=dumb {} replay scenarios/baseline.toml; echo \"exit=$?\"; stty -a | tr ' ' '\\n' | grep -x -- '-*icanon'; sleep 30",
        env!("CARGO_MANIFEST_DIR"),
        env!("CARGO_BIN_EXE_recoverysim")
    );
    let tmux = |args: &[&str]| Command::new("tmux").args(args).output().expect("tmux runs");
    assert!(tmux(&["new-session", "-d", "-s", &session, "-x", "100", "-y", "24", &cmd]).status.success());
    let mut screen = String::new();
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        screen = String::from_utf8_lossy(&tmux(&["capture-pane", "-t", &session, "-p"]).stdout).to_string();
        if screen.contains("icanon") {
            break;
        }
    }
    tmux(&["kill-session", "-t", &session]);
    assert!(screen.contains("replay needs an interactive terminal: TERM=dumb"), "{screen}");
    assert!(screen.contains("exit=2"), "{screen}");
    assert!(screen.lines().any(|l| l.trim() == "icanon"), "the terminal is cooked, not raw: {screen}");
}

/// Every command that prints, as tests run it: arguments, and files it needs first.
fn printing_commands(dir: &Path) -> Vec<Vec<String>> {
    let results = dir.join("results.json").display().to_string();
    let explore_out = dir.join("explore-out").display().to_string();
    // A results file for `explore merge`.
    let made = recoverysim(&[
        "explore",
        "scenarios/baseline.toml",
        "--seeds",
        "0-1",
        "--no-shrink",
        "--out",
        &explore_out,
        "--results",
        &results,
    ]);
    assert_eq!(made.status.code(), Some(0), "{}", String::from_utf8_lossy(&made.stderr));
    let b = "scenarios/baseline.toml";
    let lines: Vec<Vec<&str>> = vec![
        vec!["run", b],
        vec!["run", b, "--json"],
        vec!["run", b, "--trace", "-"],
        vec!["run", b, "--check"],
        vec!["run", b, "--seeds", "0-2", "--verbose"],
        vec!["check", "scenarios"],
        vec!["check", b, "--format", "json"],
        vec!["check", b, "--format", "junit"],
        vec!["check", b, "--format", "github"],
        vec!["regions", b],
        vec!["bench", b, "--runs", "1"],
        vec!["bench", b, "--seek", "2"],
        vec!["explore", b, "--seeds", "0-1", "--no-shrink", "--out", &explore_out, "--coverage"],
        vec!["explore", "merge", &results, "--coverage"],
        vec!["sweep", b],
        vec!["diff", b, "--seeds", "1,2"],
    ];
    lines.into_iter().map(|l| l.into_iter().map(String::from).collect()).collect()
}

/// Runs the binary with standard output going to `stdout`.
fn run_into(args: &[String], stdout: Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recoverysim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .expect("the binary runs")
}

/// Standard output a pipe whose reader is gone (`| head` after its line): every printing command
/// stops quietly with 141, what a shell shows for a program SIGPIPE ended; a full disk
/// (/dev/full): a message on standard error and exit code 2.
#[test]
fn a_closed_or_full_standard_output_is_no_panic() {
    let dir = temp_dir("stdout");
    for args in printing_commands(&dir) {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let out = run_into(&args, Stdio::from(writer));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("error"), "{args:?}: {stderr}");
        if Path::new("/dev/full").exists() {
            let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full opens");
            let out = run_into(&args, Stdio::from(full));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains("error: cannot write to standard output: No space left"), "{args:?}: {stderr}");
            assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        }
    }
    // A full standard error is no panic either: the message is dropped, the exit code stays.
    if Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full opens");
        let out = Command::new(env!("CARGO_BIN_EXE_recoverysim"))
            .args(["run", "no/such/file.toml"])
            .stderr(Stdio::from(full))
            .output()
            .expect("the binary runs");
        assert_eq!(out.status.code(), Some(2));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("recoverysim-hostile-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("scenarios/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// Inserted by the mutator: characters of every UTF-8 length, a byte-order mark, control and
/// combining characters, a right-to-left override, CRLF, a tab.
const INSERTS: &[&str] =
    &["é", "ｘ", "😀", "\u{feff}", "\t", "\r\n", "\r", "\0", "\u{301}", "\u{202e}", "\u{200d}", "\u{1b}[31m", "\u{7f}"];
/// Bytes that are never UTF-8 or not where they stand: a lone continuation byte, a lead byte
/// without its continuation, an overlong encoding, a surrogate, bytes past U+10FFFF.
const INVALID: &[&[u8]] = &[b"\xff", b"\x80", b"\xc3", b"\xe2\x82", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"];
/// Numbers at and past every integer width, negative, float and special forms.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "255",
    "65536",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999999",
    "-9223372036854775808",
    "1e400",
    "nan",
    "inf",
    "0x7fffffffffffffff",
    "1_000_000_000",
];
/// TOML punctuation and fragments that open, close or repeat structures.
const TOKENS: &[&str] = &[
    "=",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    ",",
    "#",
    "\n",
    ".",
    "\\",
    "\\u",
    "[fault]",
    "[[fault]]\n",
    "[job]\n",
    "[flink]\n",
];
/// String values: durations, rates, names at and past their limits.
const STRINGS: &[&str] = &[
    "",
    "0s",
    "1ns",
    "99999999999999h",
    "18446744073709551615ms",
    "1000000000000/s",
    "0/s",
    "100TB/s",
    "op[99999999999]",
    "op[0-4294967296]",
    "source[3-1]",
    "😀",
];

/// One seeded mutation of `b`, said in words for a failure report.
fn mutate(rng: &mut ChaCha8Rng, b: &mut Vec<u8>) -> String {
    let mut pick = |n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
    let at = pick(b.len() + 1);
    match pick(12) {
        0 => {
            let x = (pick(255) + 1) as u8;
            if let Some(byte) = b.get_mut(at) {
                *byte ^= x;
            }
            format!("flip byte {at} ^ {x:#x}")
        }
        1 => {
            b.truncate(at);
            format!("truncate at {at}")
        }
        2 => {
            let s = INSERTS[pick(INSERTS.len())];
            b.splice(at..at, s.bytes());
            format!("insert {s:?} at {at}")
        }
        3 => {
            let s = INVALID[pick(INVALID.len())];
            b.splice(at..at, s.iter().copied());
            format!("insert {s:x?} at {at}")
        }
        4 => {
            // Replace a run of digits.
            let digits: Vec<usize> = (0..b.len()).filter(|&i| b[i].is_ascii_digit()).collect();
            let Some(&start) = digits.get(pick(digits.len())) else { return "no digits".into() };
            let end = (start..b.len()).find(|&i| !b[i].is_ascii_digit()).unwrap_or(b.len());
            let n = NUMBERS[pick(NUMBERS.len())];
            b.splice(start..end, n.bytes());
            format!("number {n} at {start}")
        }
        5 => {
            // Duplicate a table: from a line starting with `[` to the next such line.
            let starts: Vec<usize> = (0..b.len()).filter(|&i| b[i] == b'[' && (i == 0 || b[i - 1] == b'\n')).collect();
            let Some(&start) = starts.get(pick(starts.len())) else { return "no tables".into() };
            let end = starts.iter().copied().find(|&s| s > start).unwrap_or(b.len());
            let table = b[start..end].to_vec();
            let to = if pick(2) == 0 { end } else { b.len() };
            b.splice(to..to, table.iter().copied());
            format!("duplicate table at {start}..{end} to {to}")
        }
        6 => {
            // Delete, duplicate or move a line.
            let lines: Vec<usize> =
                std::iter::once(0).chain((0..b.len()).filter(|&i| b[i] == b'\n').map(|i| i + 1)).collect();
            let start = lines[pick(lines.len())];
            let end = (start..b.len()).find(|&i| b[i] == b'\n').map_or(b.len(), |i| i + 1);
            let line: Vec<u8> = b.drain(start..end).collect();
            match pick(3) {
                0 => format!("delete line at {start}"),
                1 => {
                    let copies = [line.clone(), line].concat();
                    b.splice(start..start, copies);
                    format!("duplicate line at {start}")
                }
                _ => {
                    let to = lines[pick(lines.len())].min(b.len());
                    b.splice(to..to, line);
                    format!("move line at {start} to {to}")
                }
            }
        }
        7 => {
            let t = TOKENS[pick(TOKENS.len())];
            b.splice(at..at, t.bytes());
            format!("insert {t:?} at {at}")
        }
        8 => {
            // Replace a quoted string's content.
            let quotes: Vec<usize> = (0..b.len()).filter(|&i| b[i] == b'"').collect();
            let Some(&open) = quotes.get(pick(quotes.len())) else { return "no strings".into() };
            let close = (open + 1..b.len()).find(|&i| b[i] == b'"' || b[i] == b'\n').unwrap_or(b.len());
            let s = STRINGS[pick(STRINGS.len())];
            b.splice(open + 1..close, s.bytes());
            format!("string {s:?} at {open}")
        }
        9 => {
            // A long run: the printer trims long lines around the error.
            let s = INSERTS[pick(3)].repeat(200 + pick(400));
            b.splice(at..at, s.bytes());
            format!("insert a run of {} bytes at {at}", s.len())
        }
        10 => {
            let text = String::from_utf8_lossy(b).replace('\n', "\r\n");
            *b = text.into_bytes();
            "CRLF line ends".into()
        }
        _ => {
            b.splice(0..0, "\u{feff}".bytes());
            "byte-order mark".into()
        }
    }
}

/// The loader fuzzed: seeded mutations of every file in scenarios/ (byte flips, truncations,
/// inserted multi-byte and invalid UTF-8, huge numbers, duplicated tables and lines, CRLF, a
/// byte-order mark, long lines, now and then past the size limit). No case may panic (loading
/// or printing the error), take longer than a few seconds, or give an error without a line and
/// column. `RECOVERYSIM_FUZZ_CASES` sets the number of cases (default 3000),
/// `RECOVERYSIM_FUZZ_FROM` the first case's number (to rerun one).
#[test]
// Wall time: a case that takes seconds is a hang; the test is outside the simulation core.
#[allow(clippy::disallowed_methods)]
fn fuzzed_scenario_files_never_panic_and_every_error_is_positioned() {
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (cases, from) = (env("RECOVERYSIM_FUZZ_CASES", 3000), env("RECOVERYSIM_FUZZ_FROM", 0));
    let files: Vec<(PathBuf, Vec<u8>)> =
        scenario_files().into_iter().map(|f| (f.clone(), std::fs::read(&f).expect("reads"))).collect();
    let (mut loaded, mut errors, mut slowest) = (0u64, 0u64, (Duration::ZERO, 0u64));
    let mut failures: Vec<String> = Vec::new();
    let started = Instant::now();
    for case in from..from + cases {
        let mut rng = ChaCha8Rng::seed_from_u64(case);
        let (file, original) = &files[case as usize % files.len()];
        let mut bytes = original.clone();
        let mut done: Vec<String> = (0..1 + rng.next_u64() % 4).map(|_| mutate(&mut rng, &mut bytes)).collect();
        if case % 500 == 499 {
            bytes.resize(MAX_FILE_BYTES as usize + 1 + (rng.next_u64() % 100) as usize, b'#');
            done.push("padded past the size limit".into());
        }
        let t0 = Instant::now();
        let result = load_and_render(&bytes);
        let took = t0.elapsed();
        if took > slowest.0 {
            slowest = (took, case);
        }
        let why = match result {
            _ if took > Duration::from_secs(5) => Some(format!("took {took:?}")),
            Ok(None) => {
                loaded += 1;
                None
            }
            Ok(Some(_)) => {
                errors += 1;
                None
            }
            Err(why) => Some(why),
        };
        if let Some(why) = why {
            failures.push(format!("case {case} ({}: {}): {why}", file.display(), done.join(", ")));
        }
    }
    println!(
        "fuzz: {cases} cases from {from} in {:.1} s: {loaded} loaded, {errors} positioned errors, {} failures; \
         slowest case {} in {:?}",
        started.elapsed().as_secs_f64(),
        failures.len(),
        slowest.1,
        slowest.0
    );
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}
