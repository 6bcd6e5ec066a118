//! Tests for `memcheck`: balanced checks pass; a frame or a slab object
//! more after than before, or an `end` with no `begin`, is reported.

use super::*;

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

const BASE: &str = "frames=145 slab=2,0,1,9,4,5,0,3,1,0,0,0,0,1,0,1";

#[test]
fn lines_parse_with_or_without_a_log_prefix() {
    assert_eq!(
        parse(&format!("memcheck: begin bin/hello {BASE}")),
        Some(Line {
            begin: true,
            label: "bin/hello",
            numbers: BASE
        })
    );
    assert_eq!(
        parse("[ 1.0] I cpu0 x: memcheck: end bin/true frames=1 slab=0").map(|l| l.begin),
        Some(false)
    );
    assert_eq!(parse("memcheck: maybe bin/true frames=1"), None);
    assert_eq!(parse("memcheck: end bin/true"), None);
    assert_eq!(parse("nothing here"), None);
}

#[test]
fn balanced_and_nested_checks_pass() {
    let transcript = lines(&format!(
        "memcheck: begin bin/init {BASE}\n\
         init: running\n\
         memcheck: begin bin/hello frames=150 slab=2,0,1,9,4,5,0,3,1,0,0,0,0,1,0,1\n\
         memcheck: end bin/hello frames=150 slab=2,0,1,9,4,5,0,3,1,0,0,0,0,1,0,1\n\
         memcheck: end bin/init {BASE}\n\
         memcheck: begin bin/init {BASE}\n\
         memcheck: end bin/init {BASE}\n"
    ));
    assert_eq!(problems(&transcript), Vec::<String>::new());
}

#[test]
fn a_leaked_frame_or_slab_object_is_reported() {
    for (after, marked) in [
        (
            "frames=146 slab=2,0,1,9,4,5,0,3,1,0,0,0,0,1,0,1",
            "frames=146<-",
        ),
        (
            "frames=145 slab=2,1,1,9,4,5,0,3,1,0,0,0,0,1,0,1",
            "slab=2,1,1,9",
        ),
    ] {
        let transcript = lines(&format!(
            "memcheck: begin bin/hello {BASE}\nmemcheck: end bin/hello {after}\n"
        ));
        let found = problems(&transcript);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("bin/hello leaked"), "{found:?}");
        assert!(found[0].contains(marked), "{found:?}");
    }
}

#[test]
fn an_end_without_a_begin_is_reported_and_an_open_begin_is_not() {
    let transcript = lines(&format!(
        "memcheck: end bin/true {BASE}\n\
         memcheck: begin bin/fault {BASE}\n"
    ));
    let found = problems(&transcript);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("without its `begin`"), "{found:?}");
}

#[test]
fn a_boot_that_leaks_on_purpose_passes_only_if_the_leak_is_reported() {
    let clean = lines(&format!(
        "memcheck: begin a {BASE}\nmemcheck: end a {BASE}\n"
    ));
    let leaky = lines(&format!(
        "memcheck: begin a {BASE}\nmemcheck: end a frames=0 slab=0\n"
    ));
    assert!(judge(false, &clean).is_empty());
    assert_eq!(judge(false, &leaky).len(), 1);
    assert_eq!(judge(true, &clean).len(), 1);
    assert!(judge(true, &leaky).is_empty());
}
