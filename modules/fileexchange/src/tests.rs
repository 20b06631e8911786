//! Every operation against an in-memory [`MemoryFiles`], as t1c-sdk-js sends it.

use serde_json::{Value, json};
use t1c_sdk::files::{Chooser, MemoryFiles};

use super::*;

const ENTITY: &str = "acme";
/// 2024-03-01T09:30:00.123Z
const NOW_MS: u64 = 1_709_285_400_123;

/// Two types, `docs` with `a.txt`, `sub/b.pdf`, and `out`, empty.
fn files() -> MemoryFiles {
    let files = MemoryFiles::new().with_type(ENTITY, "docs", "/home/u/docs").with_type(
        ENTITY,
        "out",
        "/home/u/out",
    );
    files.set_now_ms(NOW_MS);
    files.put_file(ENTITY, "docs", "a.txt", b"hello").expect("put");
    files.put_file(ENTITY, "docs", "sub/b.pdf", b"%PDF-1.7").expect("put");
    files
}

/// The answer of `operation` to `request`, as JSON.
fn call(files: &MemoryFiles, operation: &str, request: Value) -> Result<Value> {
    let answer = handle(files, operation, &request.to_string())?;
    Ok(serde_json::from_str(&answer).expect("the answer is JSON"))
}

fn ok(files: &MemoryFiles, operation: &str, request: Value) -> Value {
    call(files, operation, request).unwrap_or_else(|err| panic!("{operation}: {err}"))
}

/// The description of the invalid-input error `operation` answers.
fn invalid(files: &MemoryFiles, operation: &str, request: Value) -> String {
    match call(files, operation, request) {
        Err(Error::InvalidInput(what)) => what,
        other => panic!("{operation}: expected invalid input, got {other:?}"),
    }
}

fn names(list: &Value) -> Vec<&str> {
    list["files"].as_array().expect("files").iter().map(|f| f["name"].as_str().unwrap()).collect()
}

#[test]
fn the_manifest_declares_the_18_operations_of_the_sdk_client() {
    let manifest = FileExchange::manifest();
    assert_eq!(manifest.validate(), Ok(()));
    assert_eq!(manifest.name, "fileexchange");
    assert_eq!(manifest.capabilities, [Capability::Files]);
    assert!(manifest.atrs.is_empty());
    assert!(!manifest.token);
    assert_eq!(manifest.operations.len(), 18);
    for operation in &manifest.operations {
        assert_eq!(operation.method, HttpMethod::Post);
        assert_eq!(operation.device, DeviceKind::None);
        let expected = match operation.name.as_str() {
            "download" => "file download",
            "upload" => "file upload",
            _ => "file management",
        };
        assert_eq!(operation.use_case, expected, "{}", operation.name);
        // Every declared operation is handled: none answers "not supported".
        let answer = handle(&MemoryFiles::new(), &operation.name, "{}");
        assert!(!matches!(answer, Err(Error::NotSupported(_))), "{}: {answer:?}", operation.name);
    }
    assert!(matches!(handle(&files(), "format-disk", "{}"), Err(Error::NotSupported(_))));
}

#[test]
fn a_file_has_the_shape_of_the_sdk_model() {
    let files = files();
    let info = ok(
        &files,
        "get-file-info",
        json!({"entity": ENTITY, "type": "docs", "fileName": "b.pdf", "relPath": ["sub"]}),
    );
    assert_eq!(
        info,
        json!({
            "extension": "pdf",
            "name": "b.pdf",
            "path": "/home/u/docs/sub/b.pdf",
            "relPath": ["sub"],
            "type": "docs",
            "entity": ENTITY,
            "size": 8,
            "lastModificationTime": "2024-03-01T09:30:00.123Z",
            "isDir": false,
            "access": "rw",
        })
    );
    let top =
        ok(&files, "get-file-info", json!({"entity": ENTITY, "type": "docs", "fileName": "a.txt"}));
    assert_eq!(top["relPath"], json!([]));
    assert_eq!(top["path"], "/home/u/docs/a.txt");
    let dir =
        ok(&files, "get-file-info", json!({"entity": ENTITY, "type": "docs", "fileName": "sub"}));
    assert_eq!((dir["isDir"].as_bool(), dir["extension"].as_str()), (Some(true), Some("")));
}

#[test]
fn the_access_mode_follows_the_entry() {
    let files = files();
    files.set_access(ENTITY, "docs", "a.txt", true, false).expect("access");
    let request = json!({"entity": ENTITY, "type": "docs", "fileName": "a.txt", "relPath": []});
    assert_eq!(ok(&files, "get-access-mode", request.clone()), "r");
    files.set_access(ENTITY, "docs", "a.txt", false, false).expect("access");
    assert_eq!(ok(&files, "get-access-mode", request), "");
    let info =
        ok(&files, "get-file-info", json!({"entity": ENTITY, "type": "docs", "fileName": "a.txt"}));
    assert_eq!(info["access"], "");
    let missing = json!({"entity": ENTITY, "type": "docs", "fileName": "nope"});
    assert!(invalid(&files, "get-access-mode", missing).contains("not found"));
}

#[test]
fn download_stores_the_file_creating_directories_and_replacing_an_old_one() {
    let files = files();
    files.set_content(b"first");
    // The multipart form as t1c-sdk-js >= 3.5 sends it: every field a string, relPath joined
    // with commas.
    let form = json!({
        "entity": ENTITY, "type": "docs", "fileName": "report.txt",
        "relPath": "2024,march", "implicitCreationType": "false", "notifyOnCompletion": "true",
    });
    assert_eq!(ok(&files, "download", form.clone()), "/home/u/docs/2024/march/report.txt");
    assert_eq!(files.file(ENTITY, "docs", "2024/march/report.txt").as_deref(), Some(&b"first"[..]));
    assert_eq!(files.notifications().len(), 1);
    assert_eq!(files.notifications()[0].summary, "File saved");
    assert_eq!(files.notifications()[0].body, "report.txt in docs");

    // The same file again replaces it.
    files.set_content(b"second");
    ok(&files, "download", form.clone());
    assert_eq!(
        files.file(ENTITY, "docs", "2024/march/report.txt").as_deref(),
        Some(&b"second"[..])
    );

    // No file in the request.
    assert!(invalid(&files, "download", form).contains("no file content"));

    // Older clients: relPath repeated (an array), booleans; a `/`-separated string works too.
    files.set_content(b"x");
    let old = json!({"entity": ENTITY, "type": "docs", "fileName": "x", "relPath": ["a", "b"], "notifyOnCompletion": false});
    assert_eq!(ok(&files, "download", old), "/home/u/docs/a/b/x");
    files.set_content(b"y");
    let slashes = json!({"entity": ENTITY, "type": "docs", "fileName": "y", "relPath": "a/c"});
    assert_eq!(ok(&files, "download", slashes), "/home/u/docs/a/c/y");
    files.set_content(b"z");
    let root = json!({"entity": ENTITY, "type": "docs", "fileName": "z", "relPath": ""});
    assert_eq!(ok(&files, "download", root), "/home/u/docs/z");
    files.set_content(b"n");
    let null = json!({"entity": ENTITY, "type": "docs", "fileName": "n", "relPath": null});
    assert_eq!(ok(&files, "download", null), "/home/u/docs/n");
    // Into a file's place: the directory cannot be made.
    files.set_content(b"w");
    let below_a_file =
        json!({"entity": ENTITY, "type": "docs", "fileName": "w", "relPath": ["a.txt"]});
    assert!(invalid(&files, "download", below_a_file).contains("already exists"));
    assert_eq!(files.notifications().len(), 2);
}

#[test]
fn download_maps_an_unknown_type_only_when_asked() {
    let files = files().with_chooser(Chooser::Folder("/home/u/new".into()));
    files.set_content(b"data");
    let form = |implicit: &str| json!({"entity": ENTITY, "type": "new", "fileName": "f.bin", "implicitCreationType": implicit});
    assert!(invalid(&files, "download", form("false")).contains("no folder is mapped"));
    assert!(files.map_requests().is_empty());
    assert_eq!(ok(&files, "download", form("true")), "/home/u/new/f.bin");
    assert_eq!(files.map_requests().len(), 1);
    assert_eq!(files.file(ENTITY, "new", "f.bin").as_deref(), Some(&b"data"[..]));

    let headless = super::tests::files().with_chooser(Chooser::NoChooser);
    headless.set_content(b"data");
    let answer = call(&headless, "download", form("true"));
    assert!(
        matches!(answer, Err(Error::NotSupported(ref what)) if what.contains("t1c files map")),
        "{answer:?}"
    );
}

#[test]
fn download_refuses_what_the_path_rules_refuse_and_writes_nothing() {
    let files = files();
    for rel_path in [
        json!(["..", "x"]),
        json!(["a/../.."]),
        json!("..,etc"),
        json!(["/etc"]),
        json!(["a\\..\\b"]),
        json!(["a", ""]),
    ] {
        files.set_content(b"evil");
        let form = json!({"entity": ENTITY, "type": "docs", "fileName": "f", "relPath": rel_path});
        let what = invalid(&files, "download", form);
        assert!(what.contains("invalid path"), "{rel_path}: {what}");
    }
    for file_name in ["..", "a\u{0}b", "a\\b", "CON", "x.txt."] {
        files.set_content(b"evil");
        let form = json!({"entity": ENTITY, "type": "docs", "fileName": file_name, "relPath": ["new", "dirs"]});
        assert!(invalid(&files, "download", form).contains("invalid path"), "{file_name:?}");
    }
    // A slash in a file name is not a path.
    let form = json!({"entity": ENTITY, "type": "docs", "fileName": "../x"});
    assert!(invalid(&files, "download", form).contains("without `/`"));
    // Nothing is decoded: `%2e%2e` reaches the host as it is, which refuses it, and so does
    // a look-alike of `/`.
    for rel_path in [json!(["%2e%2e"]), json!(["a\u{2215}.."]), json!("%2e%2e,%2e%2e,etc")] {
        files.set_content(b"evil");
        let form = json!({"entity": ENTITY, "type": "docs", "fileName": "f", "relPath": rel_path});
        let what = invalid(&files, "download", form);
        assert!(what.contains("invalid path") && !what.contains("%2e"), "{rel_path}: {what}");
    }
    let listing = ok(&files, "list-type-content", json!({"entity": ENTITY, "type": "docs"}));
    assert_eq!(names(&listing), ["sub", "a.txt"], "nothing was written");
}

#[test]
fn download_into_another_entitys_type_is_not_mapped() {
    let files = files();
    files.set_content(b"data");
    let form = json!({"entity": "other", "type": "docs", "fileName": "f"});
    assert!(invalid(&files, "download", form).contains("no folder is mapped"));
    assert!(files.has_content());
}

#[test]
fn upload_sends_the_file_once() {
    let files = files();
    let request = json!({"entity": ENTITY, "type": "docs", "fileName": "b.pdf", "relPath": ["sub"], "notifyOnCompletion": true});
    let answer = ok(&files, "upload", request);
    assert_eq!(answer["path"], "/home/u/docs/sub/b.pdf");
    let sent = files.take_sent().expect("sent");
    assert_eq!((sent.path.as_str(), sent.bytes.as_slice()), ("sub/b.pdf", &b"%PDF-1.7"[..]));
    assert_eq!(files.notifications()[0].body, "b.pdf from docs");

    let directory = json!({"entity": ENTITY, "type": "docs", "fileName": "sub"});
    assert!(invalid(&files, "upload", directory).contains("is a directory"));
    let missing = json!({"entity": ENTITY, "type": "docs", "fileName": "nope"});
    assert!(invalid(&files, "upload", missing).contains("not found"));
    let outside = json!({"entity": ENTITY, "type": "docs", "fileName": "passwd", "relPath": ["..", "..", "etc"]});
    assert!(invalid(&files, "upload", outside).contains("invalid path"));
    assert!(files.take_sent().is_none());
}

#[test]
fn create_type_asks_the_user_only_for_a_new_type() {
    let files = files().with_chooser(Chooser::Folder("/home/u/chosen".into()));
    let existing =
        ok(&files, "create-type", json!({"entity": ENTITY, "type": "docs", "modal": true}));
    assert_eq!(
        existing,
        json!({"entity": ENTITY, "type": "docs", "path": "/home/u/docs", "access": "rw", "status": "MAPPED", "files": 2})
    );
    assert!(files.map_requests().is_empty());

    let created = ok(
        &files,
        "create-type",
        json!({"entity": ENTITY, "type": "new", "initPath": ["home", "u"], "timeout": 30}),
    );
    assert_eq!(created["path"], "/home/u/chosen");
    assert_eq!(created["files"], 0);
    let asked = &files.map_requests()[0];
    assert_eq!(asked.suggested_folder.as_deref(), Some("/home/u"));
    assert_eq!(asked.timeout_ms, Some(30_000));

    // A type whose folder is gone is mapped again.
    files.set_available(ENTITY, "docs", false).expect("type");
    ok(&files, "create-type", json!({"entity": ENTITY, "type": "docs", "initPath": "/srv"}));
    assert_eq!(files.map_requests()[1].suggested_folder.as_deref(), Some("/srv"));

    for (chooser, expected) in [(Chooser::Cancelled, "cancelled"), (Chooser::TimedOut, "timeout")] {
        files.set_chooser(chooser);
        let answer = call(&files, "create-type", json!({"entity": ENTITY, "type": "other"}));
        let text = format!("{answer:?}").to_lowercase();
        assert!(answer.is_err() && text.contains(expected), "{text}");
    }
    assert!(
        invalid(
            &files,
            "create-type",
            json!({"entity": ENTITY, "type": "x", "timeout": 5_000_000})
        )
        .contains("timeout")
    );
    assert!(
        invalid(&files, "create-type", json!({"entity": ENTITY, "type": "x", "timeout": -1}))
            .contains("timeout")
    );
}

#[test]
fn create_type_dirs_creates_what_is_missing() {
    let files = files().with_chooser(Chooser::Folder("/home/u/t".into()));
    let created = ok(
        &files,
        "create-type-dirs",
        json!({"entity": ENTITY, "type": "docs", "relPath": ["sub", "x", "y"]}),
    );
    assert_eq!(created["total"], 2);
    assert_eq!(names(&created), ["x", "y"]);
    assert_eq!(created["files"][1]["path"], "/home/u/docs/sub/x/y");
    assert_eq!(created["files"][1]["relPath"], json!(["sub", "x"]));
    let again = ok(
        &files,
        "create-type-dirs",
        json!({"entity": ENTITY, "type": "docs", "relPath": ["sub", "x", "y"]}),
    );
    assert_eq!(again["total"], 0);

    // A new type is mapped first.
    let fresh =
        ok(&files, "create-type-dirs", json!({"entity": ENTITY, "type": "t", "relPath": ["in"]}));
    assert_eq!(fresh["files"][0]["path"], "/home/u/t/in");

    let through_a_file = json!({"entity": ENTITY, "type": "docs", "relPath": ["a.txt", "x"]});
    assert!(invalid(&files, "create-type-dirs", through_a_file).contains("a.txt"));
    // A refused path creates nothing, not even its first directories.
    let escaping = json!({"entity": ENTITY, "type": "docs", "relPath": ["fresh", "..", ".."]});
    assert!(invalid(&files, "create-type-dirs", escaping).contains("invalid path"));
    let exists = json!({"entity": ENTITY, "type": "docs", "relPath": ["fresh"]});
    assert_eq!(ok(&files, "exist-file", exists), false);
}

#[test]
fn update_type_asks_for_a_new_folder_starting_at_the_current_one() {
    let files = files().with_chooser(Chooser::Folder("/home/u/elsewhere".into()));
    let updated =
        ok(&files, "update-type", json!({"entity": ENTITY, "type": "docs", "timeout": 10}));
    assert_eq!(updated["path"], "/home/u/elsewhere");
    let asked = &files.map_requests()[0];
    assert_eq!(
        (asked.suggested_folder.as_deref(), asked.timeout_ms),
        (Some("/home/u/docs"), Some(10_000))
    );
    assert!(
        invalid(&files, "update-type", json!({"entity": ENTITY, "type": "nope"}))
            .contains("no folder is mapped")
    );
    files.set_chooser(Chooser::Cancelled);
    assert!(
        invalid(&files, "update-type", json!({"entity": ENTITY, "type": "docs"}))
            .contains("cancelled")
    );
    // A cancelled update keeps the old mapping.
    assert_eq!(
        ok(&files, "list-type", json!({"entity": ENTITY, "type": "docs"}))["path"],
        "/home/u/elsewhere"
    );
}

#[test]
fn types_are_deleted_and_tested() {
    let files = files();
    let docs = json!({"entity": ENTITY, "type": "docs"});
    assert_eq!(ok(&files, "exist-type", docs.clone()), true);
    assert_eq!(ok(&files, "delete-type", docs.clone()), true);
    assert_eq!(ok(&files, "delete-type", docs.clone()), false);
    assert_eq!(ok(&files, "exist-type", docs.clone()), false);
    assert!(invalid(&files, "list-type", docs).contains("no folder is mapped"));
    assert_eq!(ok(&files, "exist-type", json!({"entity": "other", "type": "out"})), false);
}

#[test]
fn list_types_pages_and_sorts() {
    let files = files();
    files.add_type(ENTITY, "zeta", "/z");
    files.add_type("other", "alpha", "/a");
    files.set_available(ENTITY, "zeta", false).expect("type");
    let all = ok(&files, "list-types", json!({}));
    assert_eq!(all["total"], 4);
    let of_acme = ok(&files, "list-types", json!({"entity": ENTITY}));
    let types: Vec<&str> =
        of_acme["types"].as_array().unwrap().iter().map(|t| t["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["docs", "out", "zeta"]);
    assert_eq!(of_acme["types"][2]["status"], "UNMAPPED");
    assert_eq!(of_acme["types"][2]["files"], 0);
    assert_eq!(of_acme["types"][2]["access"], "");

    let page = ok(
        &files,
        "list-types",
        json!({"entity": ENTITY, "page": {"start": 1, "size": 1, "sort": "DESC"}}),
    );
    assert_eq!(page["total"], 3);
    assert_eq!(page["types"][0]["type"], "out");
    let past_the_end =
        ok(&files, "list-types", json!({"entity": ENTITY, "page": {"start": 10, "size": 5}}));
    assert_eq!(
        (past_the_end["total"].as_u64(), past_the_end["types"].as_array().map(Vec::len)),
        (Some(3), Some(0))
    );
}

#[test]
fn list_type_content_sorts_directories_first_and_pages() {
    let files = files();
    for name in ["c.txt", "B.txt", "d"] {
        files.put_file(ENTITY, "docs", name, b"").expect("put");
    }
    ok(&files, "create-dir", json!({"entity": ENTITY, "type": "docs", "relPath": ["adir"]}));
    let request = |page: Value| json!({"entity": ENTITY, "type": "docs", "page": page});
    let ascending = ok(&files, "list-type-content", json!({"entity": ENTITY, "type": "docs"}));
    assert_eq!(names(&ascending), ["adir", "sub", "B.txt", "a.txt", "c.txt", "d"]);
    assert_eq!(ascending["total"], 6);
    let descending = ok(&files, "list-type-content", request(json!({"sort": "DESC"})));
    assert_eq!(names(&descending), ["sub", "adir", "d", "c.txt", "a.txt", "B.txt"]);
    let page =
        ok(&files, "list-type-content", request(json!({"start": 2, "size": 2, "sort": "ASC"})));
    assert_eq!((names(&page), page["total"].as_u64()), (vec!["B.txt", "a.txt"], Some(6)));

    let inside = ok(
        &files,
        "list-type-content",
        json!({"entity": ENTITY, "type": "docs", "relPath": ["sub"]}),
    );
    assert_eq!(names(&inside), ["b.pdf"]);
    let missing = json!({"entity": ENTITY, "type": "docs", "relPath": ["nope"]});
    assert!(invalid(&files, "list-type-content", missing).contains("not found"));
    let a_file = json!({"entity": ENTITY, "type": "docs", "relPath": "a.txt"});
    assert!(invalid(&files, "list-type-content", a_file).contains("not a directory"));
    let escaping = json!({"entity": ENTITY, "type": "docs", "relPath": ["..", ".."]});
    assert!(invalid(&files, "list-type-content", escaping).contains("invalid path"));
}

#[test]
fn bad_pages_are_refused() {
    let files = files();
    for page in [
        json!({"start": -1, "size": 10}),
        json!({"start": 0, "size": 0}),
        json!({"start": 0, "size": -5}),
        json!({"start": 0, "size": 1_000_000_000_000_i64}),
        json!({"start": 0, "size": 10, "sort": "sideways"}),
        json!({"start": "zero"}),
    ] {
        let request = json!({"entity": ENTITY, "type": "docs", "page": page});
        let what = invalid(&files, "list-type-content", request);
        assert!(what.contains("page") || what.contains("invalid type"), "{page}: {what}");
    }
    let lowercase = json!({"entity": ENTITY, "type": "docs", "page": {"sort": "desc"}});
    assert_eq!(names(&ok(&files, "list-type-content", lowercase)), ["sub", "a.txt"]);
}

#[test]
fn list_content_gathers_the_top_level_of_every_available_type() {
    let files = files();
    files.put_file(ENTITY, "out", "o.txt", b"o").expect("put");
    files.add_type(ENTITY, "gone", "/gone");
    files.put_file(ENTITY, "gone", "hidden.txt", b"h").expect("put");
    files.set_available(ENTITY, "gone", false).expect("type");
    files.add_type("other", "theirs", "/theirs");
    files.put_file("other", "theirs", "theirs.txt", b"t").expect("put");

    let all = ok(&files, "list-content", json!({"entity": ENTITY}));
    assert_eq!(names(&all), ["sub", "a.txt", "o.txt"]);
    assert_eq!(all["files"][2]["type"], "out");
    let page = ok(
        &files,
        "list-content",
        json!({"entity": ENTITY, "page": {"start": 0, "size": 1, "sort": "DESC"}}),
    );
    assert_eq!((names(&page), page["total"].as_u64()), (vec!["sub"], Some(3)));
    assert!(invalid(&files, "list-content", json!({})).contains("entity"));
}

#[test]
fn exist_file_tells_whether_a_path_is_there() {
    let files = files();
    let exists = |rel_path: Value| {
        ok(&files, "exist-file", json!({"entity": ENTITY, "type": "docs", "relPath": rel_path}))
    };
    assert_eq!(exists(json!(["sub", "b.pdf"])), true);
    assert_eq!(exists(json!(["sub"])), true);
    assert_eq!(exists(json!(["sub", "nope"])), false);
    assert_eq!(exists(json!(["a.txt", "below-a-file"])), false);
    assert_eq!(exists(json!("sub,b.pdf")), true);
    let escaping = json!({"entity": ENTITY, "type": "docs", "relPath": ["..", "etc", "passwd"]});
    assert!(invalid(&files, "exist-file", escaping).contains("invalid path"));
    assert!(
        invalid(&files, "exist-file", json!({"entity": ENTITY, "type": "docs", "relPath": []}))
            .contains("names no file")
    );
    assert!(
        invalid(&files, "exist-file", json!({"entity": ENTITY, "type": "nope", "relPath": ["a"]}))
            .contains("no folder")
    );
}

#[test]
fn create_dir_needs_the_parent_unless_recursive() {
    let files = files();
    let request = |rel_path: Value, recursive: Value| json!({"entity": ENTITY, "type": "docs", "relPath": rel_path, "recursive": recursive});
    assert!(
        invalid(&files, "create-dir", request(json!(["x", "y"]), json!(false)))
            .contains("not found")
    );
    assert!(
        invalid(&files, "create-dir", request(json!(["x", "y"]), Value::Null))
            .contains("not found")
    );
    let created = ok(&files, "create-dir", request(json!(["x", "y"]), json!(true)));
    assert_eq!(
        (created["isDir"].as_bool(), created["path"].as_str()),
        (Some(true), Some("/home/u/docs/x/y"))
    );
    assert!(
        invalid(&files, "create-dir", request(json!(["x"]), json!(false)))
            .contains("already exists")
    );
    assert!(
        invalid(&files, "create-dir", request(json!([]), json!(true)))
            .contains("names no directory")
    );
    assert!(
        invalid(&files, "create-dir", request(json!(["x", "..", ".."]), json!(true)))
            .contains("invalid path")
    );
}

#[test]
fn copy_file_within_and_across_types_never_overwrites() {
    let files = files();
    let copy = |to_type: &str, new_name: &str, to_rel_path: Value| {
        json!({
            "entity": ENTITY, "fromType": "docs", "toType": to_type, "fileName": "b.pdf",
            "newFileName": new_name, "fromRelPath": ["sub"], "toRelPath": to_rel_path,
        })
    };
    let across = ok(&files, "copy-file", copy("out", "copy.pdf", json!([])));
    assert_eq!(
        (across["type"].as_str(), across["path"].as_str()),
        (Some("out"), Some("/home/u/out/copy.pdf"))
    );
    assert_eq!(files.file(ENTITY, "out", "copy.pdf").as_deref(), Some(&b"%PDF-1.7"[..]));
    let within = ok(&files, "copy-file", copy("docs", "b2.pdf", json!(["sub"])));
    assert_eq!(within["path"], "/home/u/docs/sub/b2.pdf");
    assert_eq!(
        files.file(ENTITY, "docs", "sub/b.pdf").as_deref(),
        Some(&b"%PDF-1.7"[..]),
        "the source stays"
    );

    files.put_file(ENTITY, "out", "taken.pdf", b"mine").expect("put");
    assert!(
        invalid(&files, "copy-file", copy("out", "taken.pdf", json!([])))
            .contains("already exists")
    );
    assert_eq!(files.file(ENTITY, "out", "taken.pdf").as_deref(), Some(&b"mine"[..]));
    assert!(invalid(&files, "copy-file", copy("nope", "x", json!([]))).contains("no folder"));
    assert!(invalid(&files, "copy-file", copy("out", "x", json!([".."]))).contains("invalid path"));
    assert!(
        invalid(&files, "copy-file", copy("out", "x", json!(["missing"]))).contains("not found")
    );
}

#[test]
fn move_file_keeps_the_name_and_never_overwrites() {
    let files = files();
    let moved = ok(
        &files,
        "move-file",
        json!({"entity": ENTITY, "fromType": "docs", "toType": "out", "fileName": "a.txt", "toRelPath": []}),
    );
    assert_eq!(moved["path"], "/home/u/out/a.txt");
    assert_eq!(files.file(ENTITY, "docs", "a.txt"), None);
    assert_eq!(files.file(ENTITY, "out", "a.txt").as_deref(), Some(&b"hello"[..]));

    files.put_file(ENTITY, "docs", "a.txt", b"again").expect("put");
    let back = json!({"entity": ENTITY, "fromType": "docs", "toType": "out", "fileName": "a.txt"});
    assert!(invalid(&files, "move-file", back).contains("already exists"));
    assert_eq!(files.file(ENTITY, "docs", "a.txt").as_deref(), Some(&b"again"[..]));

    let within = json!({"entity": ENTITY, "fromType": "docs", "toType": "docs", "fileName": "a.txt", "toRelPath": ["sub"]});
    assert_eq!(ok(&files, "move-file", within)["path"], "/home/u/docs/sub/a.txt");
    let missing =
        json!({"entity": ENTITY, "fromType": "docs", "toType": "out", "fileName": "nope"});
    assert!(invalid(&files, "move-file", missing).contains("not found"));
}

#[test]
fn rename_file_refuses_a_taken_name() {
    let files = files();
    let rename = |from: &str, to: &str| json!({"entity": ENTITY, "type": "docs", "fileName": from, "newFileName": to, "relPath": ["sub"]});
    let renamed = ok(&files, "rename-file", rename("b.pdf", "c.pdf"));
    assert_eq!(
        (renamed["name"].as_str(), renamed["path"].as_str()),
        (Some("c.pdf"), Some("/home/u/docs/sub/c.pdf"))
    );
    files.put_file(ENTITY, "docs", "sub/d.pdf", b"d").expect("put");
    assert!(invalid(&files, "rename-file", rename("c.pdf", "d.pdf")).contains("already exists"));
    assert!(invalid(&files, "rename-file", rename("c.pdf", "../d.pdf")).contains("without `/`"));
    assert!(invalid(&files, "rename-file", rename("c.pdf", "..")).contains("invalid path"));
    assert!(invalid(&files, "rename-file", rename("nope", "e")).contains("not found"));
}

#[test]
fn malformed_requests_are_invalid_input_naming_the_field() {
    let files = files();
    for (operation, request, expected) in [
        ("get-file-info", json!({"type": "docs", "fileName": "a.txt"}), "entity"),
        ("get-file-info", json!({"entity": ENTITY, "type": "docs"}), "fileName"),
        ("get-file-info", json!({"entity": "", "type": "docs", "fileName": "a"}), "empty"),
        ("get-file-info", json!({"entity": ENTITY, "type": "docs", "fileName": ""}), "empty"),
        ("get-file-info", json!({"entity": ENTITY, "type": 7, "fileName": "a"}), "invalid type"),
        (
            "list-type-content",
            json!({"entity": ENTITY, "type": "docs", "relPath": 3}),
            "path segments",
        ),
        (
            "list-type-content",
            json!({"entity": ENTITY, "type": "docs", "relPath": [1, 2]}),
            "invalid type",
        ),
        (
            "download",
            json!({"entity": ENTITY, "type": "docs", "fileName": "f", "implicitCreationType": "yes"}),
            "true or false",
        ),
        ("create-type", json!({"entity": ENTITY, "type": "docs", "initPath": 5}), "initPath"),
        (
            "copy-file",
            json!({"entity": ENTITY, "fromType": "docs", "toType": "out", "fileName": "a.txt"}),
            "newFileName",
        ),
    ] {
        let what = invalid(&files, operation, request.clone());
        assert!(what.contains(expected), "{operation} {request}: {what}");
    }
    // Nothing long or unprintable from the request comes back whole.
    let long = "n".repeat(4096);
    for request in [
        json!({"entity": ENTITY, "type": long, "fileName": "a"}),
        json!({"entity": ENTITY, "type": "docs", "fileName": "a", "relPath": [long]}),
        json!({"entity": ENTITY, "type": "docs", "fileName": long}),
        json!({"entity": ENTITY, "type": "docs", "fileName": "a", "implicitCreationType": long}),
    ] {
        files.set_content(b"x");
        let what = invalid(&files, "download", request);
        assert!(what.len() < 300, "{what}");
    }
    let what = invalid(
        &files,
        "get-file-info",
        json!({"entity": ENTITY, "type": "a\u{202E}b", "fileName": "a"}),
    );
    assert!(!what.contains('\u{202E}'), "{what}");
    assert!(matches!(handle(&files, "list-types", "not json"), Err(Error::InvalidInput(_))));
    assert!(matches!(handle(&files, "list-types", "[]"), Err(Error::InvalidInput(_))));
}

#[test]
fn natively_the_host_files_answer_that_there_is_no_host() {
    let answer = FileExchange::invoke(None, "list-types", "{}");
    assert!(
        matches!(answer, Err(Error::Internal(ref what)) if what.contains("inside the connector")),
        "{answer:?}"
    );
}
