//! Tests of the house itself, over every crate of the workspace: the map
//! (`docs/architecture.md`) names every folder, and no file reaches back to
//! itself through imports.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

/// The workspace's `crates/` folder.
fn crates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Each crate's `src/` folder.
fn sources() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(crates())
        .unwrap()
        .map(|c| c.unwrap().path().join("src"))
        .filter(|src| src.is_dir())
        .collect();
    out.sort();
    out
}

/// `docs/architecture.md` is the newcomer's map: each top-level folder of
/// each crate's `src/` is named on it, so a new resource (a folder of core)
/// cannot land without its place on the map.
#[test]
fn the_architecture_page_names_every_folder() {
    let page = std::fs::read_to_string(crates().join("../docs/architecture.md")).unwrap();
    let mut missing = Vec::new();
    for src in sources() {
        for entry in std::fs::read_dir(&src).unwrap().map(Result::unwrap) {
            let name = entry.file_name().into_string().unwrap();
            if entry.file_type().unwrap().is_dir() && !page.contains(&format!("{name}/")) {
                missing.push(src.join(name).display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/architecture.md does not name {missing:?}"
    );
}

/// Every `.rs` file below `src`, by its module path (`lib.rs`, `main.rs`
/// and `mod.rs` stand for their folder).
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<Vec<String>, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, src, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).unwrap().with_extension("");
                let mut parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    parts.last().map(String::as_str),
                    Some("lib" | "main" | "mod")
                ) {
                    parts.pop();
                }
                out.insert(parts, path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// The files each file of one crate imports through `crate::`, `super::`
/// and `self::` paths (a `use` group's items each count). Test modules
/// (from the first `#[cfg(test)]` on) and comments are left out; an edge
/// out of the crate root (`lib.rs`, `main.rs`), which declares everything,
/// is not a circle of design.
fn imports(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mods = modules(src);
    let comment = Regex::new(r"//[^\n]*").unwrap();
    let group = Regex::new(r"\buse\s+(crate|super|self)((?:::\w+)*)::\{([^;]*)\};").unwrap();
    let path = Regex::new(r"\b(crate|super|self)((?:::\w+)+)").unwrap();
    let mut edges = BTreeMap::new();
    for (module, file) in &mods {
        let text = std::fs::read_to_string(file).unwrap();
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        let text = comment.replace_all(text, "");
        let mut refs: Vec<(String, String)> = Vec::new();
        for g in group.captures_iter(&text) {
            for item in g[3].split(',') {
                let item = item.split(" as ").next().unwrap_or_default().trim();
                if !item.is_empty() && item != "self" && !item.contains('{') {
                    refs.push((g[1].to_owned(), format!("{}::{item}", &g[2])));
                }
            }
        }
        refs.extend(
            path.captures_iter(&text)
                .map(|p| (p[1].to_owned(), p[2].to_owned())),
        );
        let is_root = module.is_empty();
        let mut to = BTreeSet::new();
        for (root, rest) in refs {
            let mut segs: Vec<String> = rest
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let mut base: Vec<String> = match root.as_str() {
                "crate" => vec![],
                "self" => module.clone(),
                _ => module[..module.len().saturating_sub(1)].to_vec(),
            };
            while root == "super" && segs.first().is_some_and(|s| s == "super") {
                base.pop();
                segs.remove(0);
            }
            base.extend(segs);
            // The deepest module file the path names.
            if let Some(target) = (0..=base.len())
                .rev()
                .find_map(|n| mods.get(&base[..n]))
                .filter(|t| *t != file)
            {
                to.insert(target.clone());
            }
        }
        if is_root {
            to.clear();
        }
        edges.insert(file.clone(), to);
    }
    edges
}

/// The groups of files that reach each other (Tarjan's strongly connected
/// components, those of more than one file).
fn circles(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a PathBuf) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            for w in &self.edges[v] {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    self.low.insert(v, self.low[v].min(self.low[w]));
                } else if self.stack.contains(&w) {
                    self.low.insert(v, self.low[v].min(self.index[w]));
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    group.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    self.out.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.out
}

/// No import circle between the files of any crate: the house is layered
/// (leaves, models, the store, the kernel, the operations in core; state
/// and shared layers below the API and the console in the server), and a
/// file that reaches back to itself is where that stops being true.
#[test]
fn no_file_reaches_itself_through_imports() {
    let found: Vec<Vec<PathBuf>> = sources()
        .iter()
        .flat_map(|s| circles(&imports(s)))
        .collect();
    assert!(found.is_empty(), "import circles: {found:#?}");
}
