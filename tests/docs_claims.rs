//! The security documents cite tests as evidence and name the code that defends;
//! every citation must resolve, exactly, to what it claims to be.
//!
//! `SECURITY.md` and `docs/threat-model.md` cite backticked paths. Each is resolved by
//! its module path to one file and one item, the way rustc finds modules (`mod x;`
//! with `x.rs` or `x/mod.rs`, `#[path = "…"] mod x;`, inline `mod x { … }`) and
//! through `pub use` re-exports (the audit crate's `signet_audit::journal` is
//! `log::journal`, in `crates/signet-audit/src/log/journal/`):
//!
//! - `src::a::b::tests::name`: a unit test of the gateway (crate root `src/main.rs`),
//!   inside the `mod tests` of module `a::b`.
//! - `signet_audit::a::tests::name`: a unit test of the audit crate
//!   (`crates/signet-audit/src/lib.rs`), likewise.
//! - `signet_audit::bin::name` (and `bin::module::name`): a test of the audit crate's
//!   integration test binary `crates/signet-audit/tests/bin.rs`.
//! - `bin::module::name`: a test of `tests/bin.rs` (`adversarial::offpath::…` is
//!   `tests/adversarial/offpath.rs`, through the `#[path]` in `tests/adversarial.rs`).
//! - any other `a::b::item`: code of the gateway (`src/main.rs`, or of the audit crate
//!   after `signet_audit::`): `item` must be defined in module `a::b` (a `fn`,
//!   `struct`, `enum`, `trait`, `type`, `const`, `static` or `mod`).
//! - `dir/file.rs` and `dir/file.rs::item`: a file of `src/` (of the repository when it
//!   starts with `src/`, `tests/` or `crates/`), and an item defined in it.
//!
//! A cited test must be a `fn` preceded by `#[test]` or `#[tokio::test…]` (other
//! attributes and doc comments may sit between), and must not be `#[ignore]`d unless
//! the table row or paragraph citing it marks itself **OPEN**, **ACCEPTED** or
//! **accepted risk**. A table's `Test` column cites tests only. Comments and string
//! literals are blanked before anything is looked for, so a commented-out test or a
//! `#[test]` inside a string does not count.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::rc::Rc;

use regex::Regex;

// ---------------------------------------------------------------------------------
// Rust sources: comments and literals blanked, modules resolved like rustc does.
// ---------------------------------------------------------------------------------

struct Source {
    path: String,
    text: String,
    /// `text` with comments and the insides of string and char literals replaced by
    /// spaces (newlines kept), so offsets match `text`.
    masked: String,
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn mask(text: &str) -> String {
    let s = text.as_bytes();
    let mut out = s.to_vec();
    let blank = |out: &mut Vec<u8>, r: Range<usize>| {
        for b in &mut out[r] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(s.len(), |p| i + p);
            blank(&mut out, i..end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let (mut j, mut depth) = (i + 2, 1);
            while j < s.len() && depth > 0 {
                if s[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if s[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i..j);
            i = j;
        } else if s[i] == b'"' {
            let mut j = i + 1;
            while j < s.len() && s[j] != b'"' {
                j += if s[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i + 1..j.min(s.len()));
            i = j + 1;
        } else if s[i] == b'r'
            && (i == 0
                || !is_ident(s[i - 1])
                || (matches!(s[i - 1], b'b' | b'c') && (i < 2 || !is_ident(s[i - 2]))))
            && {
                let hashes = rest[1..].iter().take_while(|&&b| b == b'#').count();
                rest.get(1 + hashes) == Some(&b'"')
            }
        {
            let hashes = rest[1..].iter().take_while(|&&b| b == b'#').count();
            let start = i + 2 + hashes;
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            let end = s[start..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(s.len(), |p| start + p);
            blank(&mut out, start..end);
            i = end + close.len();
        } else if s[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}', '"'), or a lifetime ('a) left alone.
            if s.get(i + 1) == Some(&b'\\') {
                let end = s[i + 3..]
                    .iter()
                    .position(|&b| b == b'\'')
                    .map_or(s.len(), |p| i + 3 + p);
                blank(&mut out, i + 1..end);
                i = end + 1;
            } else {
                let len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                if s.get(i + 1 + len) == Some(&b'\'') {
                    blank(&mut out, i + 1..i + 1 + len);
                    i += len + 2;
                } else {
                    i += 1;
                }
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).expect("blanking keeps UTF-8")
}

/// A module: a brace-delimited (or whole-file) region of one source.
#[derive(Clone)]
struct Module {
    src: Rc<Source>,
    body: Range<usize>,
    /// Where the files of its `mod x;` children live.
    dir: String,
    /// Its path from the crate root, for messages.
    name: String,
}

fn parent(path: &str) -> String {
    path.rsplit_once('/').map_or("", |(d, _)| d).to_owned()
}

fn join(dir: &str, rel: &str) -> String {
    if dir.is_empty() {
        rel.to_owned()
    } else {
        format!("{dir}/{rel}")
    }
}

/// Brace depth of `pos` inside `body`.
fn depth(masked: &str, body: &Range<usize>, pos: usize) -> i64 {
    masked[body.start..pos].bytes().fold(0, |d, b| match b {
        b'{' => d + 1,
        b'}' => d - 1,
        _ => d,
    })
}

/// The `{` that encloses `pos` inside `body`, if any.
fn enclosing_open(masked: &str, body: &Range<usize>, pos: usize) -> Option<usize> {
    let s = masked.as_bytes();
    let mut d = 0;
    for i in (body.start..pos).rev() {
        match s[i] {
            b'}' => d += 1,
            b'{' if d == 0 => return Some(i),
            b'{' => d -= 1,
            _ => {}
        }
    }
    None
}

fn matching_close(masked: &str, open: usize) -> Option<usize> {
    let mut d = 0;
    for (i, b) in masked.bytes().enumerate().skip(open) {
        match b {
            b'{' => d += 1,
            b'}' => {
                d -= 1;
                if d == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The outer attributes written before the item starting at `pos` (its first
/// keyword after any visibility and qualifiers), nearest last, as their masked
/// text between `#[` and `]`, with the range of each in the source.
fn attributes_before(src: &Source, pos: usize) -> Vec<(String, Range<usize>)> {
    let s = src.masked.as_bytes();
    let mut i = pos;
    let mut out = Vec::new();
    loop {
        while i > 0 && s[i - 1].is_ascii_whitespace() {
            i -= 1;
        }
        if i == 0 {
            break;
        }
        if s[i - 1] == b']' {
            let mut d = 0;
            let mut j = i;
            while j > 0 {
                j -= 1;
                match s[j] {
                    b']' => d += 1,
                    b'[' => {
                        d -= 1;
                        if d == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
            if d != 0 || j == 0 || s[j - 1] != b'#' {
                break;
            }
            out.push((src.masked[j + 1..i - 1].to_owned(), j + 1..i - 1));
            i = j - 1;
        } else if is_ident(s[i - 1]) {
            let mut j = i;
            while j > 0 && is_ident(s[j - 1]) {
                j -= 1;
            }
            if !["pub", "async", "const", "unsafe", "extern", "default"]
                .contains(&&src.masked[j..i])
            {
                break;
            }
            i = j;
        } else if s[i - 1] == b')' {
            // pub(crate), pub(super), pub(in path)
            let Some(open) = src.masked[..i].rfind('(') else {
                break;
            };
            let before = src.masked[..open].trim_end();
            if !before.ends_with("pub") {
                break;
            }
            i = before.len() - 3;
        } else {
            break;
        }
    }
    out
}

/// The path of an attribute (`test`, `tokio::test`, `ignore`, `path`, …).
fn attribute_path(attr: &str) -> String {
    attr.split(['(', '=', '['])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

struct FnInfo {
    is_test: bool,
    ignored: bool,
}

struct Repo<'a> {
    read: &'a dyn Fn(&str) -> Option<String>,
    cache: RefCell<HashMap<String, Option<Rc<Source>>>>,
}

impl Repo<'_> {
    fn source(&self, path: &str) -> Option<Rc<Source>> {
        self.cache
            .borrow_mut()
            .entry(path.to_owned())
            .or_insert_with(|| {
                (self.read)(path).map(|text| {
                    Rc::new(Source {
                        path: path.to_owned(),
                        masked: mask(&text),
                        text,
                    })
                })
            })
            .clone()
    }

    fn exists(&self, path: &str) -> bool {
        self.source(path).is_some()
    }

    /// A crate root (or a file taken as one): its `mod x;` files live beside it.
    fn root(&self, path: &str) -> Result<Module, String> {
        let src = self
            .source(path)
            .ok_or_else(|| format!("{path} does not exist"))?;
        Ok(Module {
            body: 0..src.text.len(),
            dir: parent(path),
            name: "crate".into(),
            src,
        })
    }

    /// The child module `name` of `m`, declared there or re-exported by `pub use`.
    fn child(&self, m: &Module, name: &str, root: &Module) -> Result<Module, String> {
        let masked = &m.src.masked;
        let re = Regex::new(&format!(r"\bmod\s+{name}\s*([;{{])")).unwrap();
        for c in re.captures_iter(&masked[m.body.clone()]) {
            let at = m.body.start + c.get(0).unwrap().start();
            if depth(masked, &m.body, at) != 0 {
                continue;
            }
            let here = format!("{}::{name}", m.name);
            let punct = c.get(1).unwrap();
            if punct.as_str() == "{" {
                let open = m.body.start + punct.start();
                let close = matching_close(masked, open)
                    .ok_or_else(|| format!("{}: unclosed `mod {name}`", m.src.path))?;
                return Ok(Module {
                    src: m.src.clone(),
                    body: open + 1..close,
                    dir: join(&m.dir, name),
                    name: here,
                });
            }
            let path_attr = attributes_before(&m.src, at)
                .into_iter()
                .find(|(a, _)| attribute_path(a) == "path");
            if let Some((_, r)) = path_attr {
                let raw = &m.src.text[r];
                let rel = raw.split('"').nth(1).unwrap_or("");
                let file = join(&parent(&m.src.path), rel);
                let src = self
                    .source(&file)
                    .ok_or_else(|| format!("{file} (`#[path]` of `{here}`) does not exist"))?;
                return Ok(Module {
                    body: 0..src.text.len(),
                    dir: parent(&file),
                    name: here,
                    src,
                });
            }
            let flat = join(&m.dir, &format!("{name}.rs"));
            let nested = join(&m.dir, &format!("{name}/mod.rs"));
            let file = match (self.exists(&flat), self.exists(&nested)) {
                (true, false) => flat,
                (false, true) => nested,
                (true, true) => return Err(format!("both {flat} and {nested} exist")),
                (false, false) => {
                    return Err(format!("`{here}` has neither {flat} nor {nested}"));
                }
            };
            let src = self.source(&file).unwrap();
            return Ok(Module {
                body: 0..src.text.len(),
                dir: join(&m.dir, name),
                name: here,
                src,
            });
        }
        // Re-exported: `pub use a::b::{x, name};` or `pub use a::b::name;`.
        let path = r"([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)";
        let group = Regex::new(&format!(
            r"\bpub(?:\([^)]*\))?\s+use\s+{path}::\{{([^}}]*)\}}"
        ))
        .unwrap();
        let single = Regex::new(&format!(
            r"\bpub(?:\([^)]*\))?\s+use\s+{path}::([a-z_][a-z0-9_]*)\s*;"
        ))
        .unwrap();
        let body = &masked[m.body.clone()];
        let found = group
            .captures_iter(body)
            .filter(|c| depth(masked, &m.body, m.body.start + c.get(0).unwrap().start()) == 0)
            .find_map(|c| {
                c[2].split(',')
                    .map(str::trim)
                    .any(|item| item == name)
                    .then(|| c[1].to_owned())
            })
            .or_else(|| {
                single
                    .captures_iter(body)
                    .filter(|c| {
                        depth(masked, &m.body, m.body.start + c.get(0).unwrap().start()) == 0
                    })
                    .find(|c| &c[2] == name)
                    .map(|c| c[1].to_owned())
            });
        if let Some(prefix) = found {
            let segs: Vec<&str> = prefix.split("::").collect();
            let (start, segs) = match segs[0] {
                "crate" => (root.clone(), &segs[1..]),
                "self" => (m.clone(), &segs[1..]),
                _ => (m.clone(), &segs[..]),
            };
            let target = self.module(start, segs, root)?;
            return self.child(&target, name, root);
        }
        Err(format!(
            "no module `{name}` in `{}` ({})",
            m.name, m.src.path
        ))
    }

    fn module(&self, mut m: Module, segs: &[&str], root: &Module) -> Result<Module, String> {
        for seg in segs {
            m = self.child(&m, seg, root)?;
        }
        Ok(m)
    }

    /// `fn name` directly in `m` (or in a macro block there, such as `proptest! {}`).
    fn function(&self, m: &Module, name: &str) -> Result<FnInfo, String> {
        let masked = &m.src.masked;
        let re = Regex::new(&format!(r"\bfn\s+{name}\s*[<(]")).unwrap();
        for f in re.find_iter(&masked[m.body.clone()]) {
            let at = m.body.start + f.start();
            let direct = match depth(masked, &m.body, at) {
                0 => true,
                1 => enclosing_open(masked, &m.body, at)
                    .is_some_and(|open| masked[..open].trim_end().ends_with('!')),
                _ => false,
            };
            if !direct {
                continue;
            }
            let attrs: Vec<String> = attributes_before(&m.src, at)
                .into_iter()
                .map(|(a, _)| a)
                .collect();
            let paths: Vec<String> = attrs.iter().map(|a| attribute_path(a)).collect();
            return Ok(FnInfo {
                is_test: paths.iter().any(|p| p == "test" || p == "tokio::test"),
                ignored: paths.iter().any(|p| p == "ignore")
                    || attrs
                        .iter()
                        .any(|a| attribute_path(a) == "cfg_attr" && a.contains("ignore")),
            });
        }
        Err(format!("no `fn {name}` in `{}` ({})", m.name, m.src.path))
    }

    /// An item `name` (fn, type, const, module, …) defined directly in `m`.
    fn item(&self, m: &Module, name: &str, root: &Module) -> Result<(), String> {
        let masked = &m.src.masked;
        let re = Regex::new(&format!(
            r"\b(?:fn|struct|enum|trait|type|const|static|union|macro_rules!)\s+{name}\b"
        ))
        .unwrap();
        let defined = re
            .find_iter(&masked[m.body.clone()])
            .any(|f| depth(masked, &m.body, m.body.start + f.start()) == 0);
        if defined || self.child(m, name, root).is_ok() {
            Ok(())
        } else {
            Err(format!("no item `{name}` in `{}` ({})", m.name, m.src.path))
        }
    }
}

// ---------------------------------------------------------------------------------
// The documents: citations, with the table column and row (or paragraph) they sit in.
// ---------------------------------------------------------------------------------

struct Citation {
    at: String,
    text: String,
    /// In a table's `Test` column.
    test_column: bool,
    /// The row or paragraph marks itself **OPEN**, **ACCEPTED** or **accepted risk**.
    open_or_accepted: bool,
}

fn cells(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut code = false;
    for ch in line.trim().trim_matches('|').chars() {
        match ch {
            '`' => {
                code = !code;
                out.last_mut().unwrap().push(ch);
            }
            '|' if !code => out.push(String::new()),
            _ => out.last_mut().unwrap().push(ch),
        }
    }
    out.into_iter().map(|c| c.trim().to_owned()).collect()
}

fn marks_open_or_accepted(text: &str) -> bool {
    let t = text.to_lowercase();
    ["**open**", "**accepted**", "**accepted risk**"]
        .iter()
        .any(|m| t.contains(m))
}

fn spans(text: &str) -> Vec<String> {
    let re = Regex::new(r"`([^`]+)`").unwrap();
    re.captures_iter(text).map(|c| c[1].to_owned()).collect()
}

fn citations(doc: &str, text: &str) -> Vec<Citation> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut header: Option<Vec<String>> = None;
    let mut fenced = false;
    let mut para: Vec<(usize, &str)> = Vec::new();
    let flush = |para: &mut Vec<(usize, &str)>, out: &mut Vec<Citation>| {
        if let Some(&(n, _)) = para.first() {
            let joined: Vec<&str> = para.iter().map(|(_, l)| *l).collect();
            let joined = joined.join("\n");
            let open = marks_open_or_accepted(&joined);
            out.extend(spans(&joined).into_iter().map(|s| Citation {
                at: format!("{doc}:{n}"),
                text: s,
                test_column: false,
                open_or_accepted: open,
            }));
        }
        para.clear();
    };
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        let t = line.trim();
        if t.starts_with("```") {
            flush(&mut para, &mut out);
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        if t.starts_with('|') {
            flush(&mut para, &mut out);
            let row = cells(t);
            if row
                .iter()
                .all(|c| !c.is_empty() && c.chars().all(|ch| "-: ".contains(ch)))
            {
                continue;
            }
            let next_is_rule = lines
                .get(i + 1)
                .is_some_and(|l| l.trim().starts_with("|-") || l.trim().starts_with("|:"));
            if next_is_rule {
                header = Some(row);
                continue;
            }
            let open = marks_open_or_accepted(t);
            for (col, cell) in row.iter().enumerate() {
                let column = header
                    .as_ref()
                    .and_then(|h| h.get(col))
                    .map(|h| h.to_lowercase());
                out.extend(spans(cell).into_iter().map(|s| Citation {
                    at: format!("{doc}:{n}"),
                    text: s,
                    test_column: column.as_deref() == Some("test"),
                    open_or_accepted: open,
                }));
            }
            continue;
        }
        header = None;
        let starts_item = t.starts_with("- ")
            || t.starts_with("* ")
            || t.split_once(". ")
                .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if t.is_empty() || t.starts_with('#') || starts_item {
            flush(&mut para, &mut out);
        }
        if !t.is_empty() {
            para.push((n, t));
        }
    }
    flush(&mut para, &mut out);
    out
}

// ---------------------------------------------------------------------------------
// The check.
// ---------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Kind {
    Test,
    Code,
}

const GATEWAY_ROOT: &str = "src/main.rs";
const AUDIT_ROOT: &str = "crates/signet-audit/src/lib.rs";

/// Where a module path points: a test (root file, modules, fn) or code.
enum Target<'p> {
    Test {
        root: String,
        modules: &'p [&'p str],
        unit: bool,
    },
    Code {
        root: &'static str,
        segs: &'p [&'p str],
    },
}

fn target<'p>(repo: &Repo<'_>, segs: &'p [&'p str]) -> Target<'p> {
    let n = segs.len();
    match segs[0] {
        "src" => Target::Test {
            root: GATEWAY_ROOT.into(),
            modules: &segs[1..n - 1],
            unit: true,
        },
        "signet_audit" if segs[1..n - 1].contains(&"tests") => Target::Test {
            root: AUDIT_ROOT.into(),
            modules: &segs[1..n - 1],
            unit: true,
        },
        "signet_audit" => {
            let bin = format!("crates/signet-audit/tests/{}.rs", segs[1]);
            if n >= 3 && repo.exists(&bin) {
                Target::Test {
                    root: bin,
                    modules: &segs[2..n - 1],
                    unit: false,
                }
            } else {
                Target::Code {
                    root: AUDIT_ROOT,
                    segs: &segs[1..],
                }
            }
        }
        first => {
            let bin = format!("tests/{first}.rs");
            if repo.exists(&bin) {
                Target::Test {
                    root: bin,
                    modules: &segs[1..n - 1],
                    unit: false,
                }
            } else {
                Target::Code {
                    root: GATEWAY_ROOT,
                    segs,
                }
            }
        }
    }
}

fn check_path(repo: &Repo<'_>, c: &Citation) -> Result<Kind, String> {
    let segs: Vec<&str> = c.text.split("::").collect();
    let name = segs[segs.len() - 1];
    match target(repo, &segs) {
        Target::Test {
            root,
            modules,
            unit,
        } => {
            if unit && !modules.contains(&"tests") {
                return Err("a unit test is cited through its `mod tests`".into());
            }
            let r = repo.root(&root)?;
            let m = repo.module(r.clone(), modules, &r)?;
            let f = repo.function(&m, name)?;
            if !f.is_test {
                return Err(format!(
                    "`fn {name}` in {} is not a #[test] or #[tokio::test]",
                    m.src.path
                ));
            }
            if f.ignored && !c.open_or_accepted {
                return Err(format!(
                    "`fn {name}` in {} is #[ignore]d, but its row does not say **OPEN** or **ACCEPTED**",
                    m.src.path
                ));
            }
            Ok(Kind::Test)
        }
        Target::Code { root, segs } => {
            if c.test_column {
                return Err("cited in the Test column, but it names no test".into());
            }
            let r = repo.root(root)?;
            let m = repo.module(r.clone(), &segs[..segs.len() - 1], &r)?;
            repo.item(&m, name, &r)?;
            Ok(Kind::Code)
        }
    }
}

fn check_file(repo: &Repo<'_>, c: &Citation) -> Result<Kind, String> {
    if c.test_column {
        return Err("cited in the Test column, but it names no test".into());
    }
    let (file, item) = match c.text.split_once("::") {
        Some((f, i)) => (f, Some(i)),
        None => (c.text.as_str(), None),
    };
    let path = if ["src/", "tests/", "crates/"]
        .iter()
        .any(|p| file.starts_with(p))
    {
        file.to_owned()
    } else {
        format!("src/{file}")
    };
    let src = repo
        .source(&path)
        .ok_or_else(|| format!("{path} does not exist"))?;
    if let Some(item) = item {
        let m = Module {
            body: 0..src.text.len(),
            dir: parent(&path),
            name: path.clone(),
            src,
        };
        repo.item(&m, item, &m)?;
    }
    Ok(Kind::Code)
}

/// A citation that does not hold.
#[derive(Debug)]
struct Problem {
    /// `doc:line`.
    at: String,
    citation: String,
    why: String,
}

/// Checks every citation of `docs`; returns the count per kind and the problems.
fn check(
    read: &dyn Fn(&str) -> Option<String>,
    docs: &[(&str, &str)],
) -> (BTreeMap<Kind, usize>, Vec<Problem>) {
    let repo = Repo {
        read,
        cache: RefCell::new(HashMap::new()),
    };
    let path = Regex::new(r"^[a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)+$").unwrap();
    let file = Regex::new(r"^(?:[a-z0-9_-]+/)*[a-z0-9_]+\.rs(?:::[a-z_][a-z0-9_]*)?$").unwrap();
    let mut counts = BTreeMap::new();
    let mut problems = Vec::new();
    for (doc, text) in docs {
        for c in citations(doc, text) {
            let result = if path.is_match(&c.text) {
                check_path(&repo, &c)
            } else if file.is_match(&c.text) {
                check_file(&repo, &c)
            } else {
                continue;
            };
            match result {
                Ok(kind) => *counts.entry(kind).or_insert(0) += 1,
                Err(why) => problems.push(Problem {
                    at: c.at,
                    citation: c.text,
                    why,
                }),
            }
        }
    }
    (counts, problems)
}

fn from_disk(path: &str) -> Option<String> {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).ok()
}

#[test]
fn every_test_cited_as_evidence_exists() {
    let docs: Vec<(&str, String)> = ["SECURITY.md", "docs/threat-model.md"]
        .into_iter()
        .map(|d| (d, from_disk(d).expect(d)))
        .collect();
    let docs: Vec<(&str, &str)> = docs.iter().map(|(d, t)| (*d, t.as_str())).collect();
    let (counts, problems) = check(&from_disk, &docs);
    let tests = counts.get(&Kind::Test).copied().unwrap_or(0);
    let code = counts.get(&Kind::Code).copied().unwrap_or(0);
    assert!(
        tests > 60 && code > 10,
        "only {tests} cited tests and {code} code references found: is the pattern right?"
    );
    let list: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: `{}`: {}", p.at, p.citation, p.why))
        .collect();
    assert!(
        problems.is_empty(),
        "citations that do not hold:\n{}",
        list.join("\n")
    );
}

/// The checker itself can fail: on a small repository in memory, each kind of bad
/// citation is flagged, and only those.
#[test]
fn the_checker_flags_each_kind_of_bad_citation() {
    let files: BTreeMap<&str, &str> = [
        (
            "src/main.rs",
            "mod pipeline;\n#[cfg(test)]\nmod tests;\n",
        ),
        (
            "src/pipeline/mod.rs",
            r##"
mod commit;
pub async fn handle() {}
fn helper_outside() {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real, with a doc comment and another attribute between.
    #[tokio::test(flavor = "multi_thread")]
    #[allow(clippy::unwrap_used)]
    async fn real() { let _ = '{'; let _ = "}"; }

    #[test]
    #[ignore = "BUG: reproduces the open bug"]
    fn open_bug() {}

    fn helper() {}

    // #[test]
    fn commented_out() {}

    const S: &str = r#"{"#;
    #[test]
    fn after_a_raw_string() {}

    #[test]
    fn outer() {
        #[test]
        fn nested() {}
    }
}
"##,
        ),
        (
            "src/pipeline/commit.rs",
            "pub async fn finish() {}\npub fn ready() {}\n",
        ),
        ("src/tests.rs", "#[test]\nfn in_a_file_module() {}\n"),
        (
            "tests/e2e.rs",
            "#[path = \"e2e/part.rs\"]\nmod part;\n\n#[test]\n#[ignore]\nfn skipped() {}\n",
        ),
        (
            "tests/e2e/part.rs",
            "proptest::proptest! {\n    #[test]\n    fn props(x in 0..1u8) {}\n}\n",
        ),
        (
            "crates/signet-audit/src/lib.rs",
            "pub mod log;\npub use log::{journal, json};\n",
        ),
        ("crates/signet-audit/src/log/mod.rs", "pub mod journal;\npub mod json;\n"),
        (
            "crates/signet-audit/src/log/journal/mod.rs",
            "pub struct Journal;\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn torn_tail() {}\n}\n",
        ),
        ("crates/signet-audit/src/log/json.rs", "pub fn parse() {}\n"),
        (
            "crates/signet-audit/tests/tamper.rs",
            "#[test]\nfn flips() {}\n",
        ),
    ]
    .into_iter()
    .collect();
    let read = |p: &str| files.get(p).map(|t| (*t).to_owned());
    let doc = r#"
Prose cites `signet_audit::tamper::flips` and `signet_audit::journal::tests::torn_tail`,
and code: `signet_audit::json::parse`, `signet_audit::journal`.

- A bullet citing `e2e::skipped` (ignored, and this bullet is not OPEN).
- A bullet that is **OPEN**: `e2e::skipped`.

```
`e2e::inside_a_fence_is_not_a_citation`
```

| Attack | Defence | Test |
|---|---|---|
| fine | `pipeline::handle` then `pipeline::commit::finish`, `pipeline/commit.rs::ready` | `src::pipeline::tests::real`, `e2e::part::props`, `src::tests::in_a_file_module` |
| missing test | x | `src::pipeline::tests::gone` |
| missing binary module | x | `e2e::nowhere::props` |
| ignored, row not OPEN (was OPEN; fixed) | x | `src::pipeline::tests::open_bug` |
| ignored, row **OPEN** | x | `src::pipeline::tests::open_bug` |
| helper cited as a test | x | `src::pipeline::tests::helper` |
| commented-out attribute | x | `src::pipeline::tests::commented_out` |
| braces in literals are not braces | x | `src::pipeline::tests::after_a_raw_string` |
| nested fn is not the module's | x | `src::pipeline::tests::nested` |
| unit test named without its mod tests | x | `src::pipeline::handle` |
| code in the test column | x | `pipeline::handle` |
| stale code path | `commit::finish`, `pipeline::stream::pump`, `pipeline::helper_gone` | — |
| stale file | `pipeline/stream.rs`, `pipeline/commit.rs::gone` | — |
"#;
    let (counts, problems) = check(&read, &[("doc.md", doc)]);
    let flagged: Vec<(&str, &str)> = problems
        .iter()
        .map(|p| (p.at.as_str(), p.citation.as_str()))
        .collect();
    assert_eq!(
        flagged,
        [
            ("doc.md:5", "e2e::skipped"),
            ("doc.md:15", "src::pipeline::tests::gone"),
            ("doc.md:16", "e2e::nowhere::props"),
            ("doc.md:17", "src::pipeline::tests::open_bug"),
            ("doc.md:19", "src::pipeline::tests::helper"),
            ("doc.md:20", "src::pipeline::tests::commented_out"),
            ("doc.md:22", "src::pipeline::tests::nested"),
            ("doc.md:23", "src::pipeline::handle"),
            ("doc.md:24", "pipeline::handle"),
            ("doc.md:25", "commit::finish"),
            ("doc.md:25", "pipeline::stream::pump"),
            ("doc.md:25", "pipeline::helper_gone"),
            ("doc.md:26", "pipeline/stream.rs"),
            ("doc.md:26", "pipeline/commit.rs::gone"),
        ],
        "{problems:#?}"
    );
    assert_eq!(counts.get(&Kind::Test), Some(&8), "{counts:?}");
    assert_eq!(counts.get(&Kind::Code), Some(&5), "{counts:?}");
}
