use super::*;

fn member(name: &str, mode: u32, data: &[u8]) -> Member {
    Member {
        name: name.into(),
        mode,
        data: data.to_vec(),
    }
}

/// Reads the 8-hex-digit field `index` of the header at `at`.
fn field(archive: &[u8], at: usize, index: usize) -> u32 {
    let start = at + 6 + 8 * index;
    u32::from_str_radix(std::str::from_utf8(&archive[start..start + 8]).unwrap(), 16).unwrap()
}

#[test]
fn entries_follow_the_newc_layout() {
    let archive = encode(&[member("a", REGULAR, b"xyz")]);
    assert_eq!(&archive[..6], b"070701");
    assert_eq!(field(&archive, 0, 1), REGULAR);
    assert_eq!(field(&archive, 0, 6), 3, "filesize");
    assert_eq!(field(&archive, 0, 11), 2, "namesize counts the NUL");
    // 110-byte header + "a\0" = 112, already aligned; data at 112.
    assert_eq!(&archive[110..112], b"a\0");
    assert_eq!(&archive[112..115], b"xyz");
    // The data is padded to 4, then the trailer starts.
    assert_eq!(&archive[116..122], b"070701");
    assert_eq!(&archive[116 + 110..116 + 110 + 11], b"TRAILER!!!\0");
    assert_eq!(archive.len() % 4, 0);
}

#[test]
fn every_name_length_keeps_data_aligned() {
    for len in 1..=8 {
        let name = "n".repeat(len);
        let archive = encode(&[member(&name, REGULAR, b"data")]);
        let data_at = (110 + len + 1).div_ceil(4) * 4;
        assert_eq!(&archive[data_at..data_at + 4], b"data", "name length {len}");
    }
}

#[test]
fn directories_have_two_links_and_no_data() {
    let archive = encode(&[member("bin", DIRECTORY, b"")]);
    assert_eq!(field(&archive, 0, 1), DIRECTORY);
    assert_eq!(field(&archive, 0, 4), 2);
    assert_eq!(field(&archive, 0, 6), 0);
}

#[test]
fn gather_takes_programs_and_the_extra_tree() {
    let root = std::env::temp_dir().join(format!("initfs-test-{}", std::process::id()));
    let release = root.join("release");
    let extra = root.join("extra");
    fs::create_dir_all(release.join("x")).unwrap();
    fs::create_dir_all(extra.join("etc")).unwrap();
    fs::write(release.join("true"), b"\x7fELF").unwrap();
    fs::write(extra.join("etc/motd"), b"hi").unwrap();
    let members = gather(&["true".to_string()], &release, &extra).unwrap();
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["bin", "bin/true", "etc", "etc/motd"]);
    assert_eq!(members[1].mode, EXECUTABLE);
    assert_eq!(members[1].data, b"\x7fELF");
    assert_eq!(members[3].mode, REGULAR);
    assert!(gather(&["missing".to_string()], &release, &extra).is_err());
    fs::remove_dir_all(&root).unwrap();
}
