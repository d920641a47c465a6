//! `git seal diff`: what changed between two sealed states, from their manifests.

use serde_json::json;

use crate::cache::{CacheMode, Manifests};
use crate::commands::{out, outln};
use crate::error::Result;
use crate::git::Repo;
use crate::manifest::{Entry, Manifest};

/// Show which files changed between two commits or tags, from their manifests
///
/// One line per file: A added, D removed, M modified (content), T mode changed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The older state
    pub a: String,
    /// The newer state
    pub b: String,
    /// Show the difference of the two checksum files as a unified diff
    #[arg(long)]
    pub checksums: bool,
    /// Machine-readable output
    #[arg(long, conflicts_with = "checksums")]
    pub json: bool,
}

/// One changed path.
#[derive(Debug, PartialEq, Eq)]
pub enum Change<'a> {
    Added(Entry<'a>),
    Removed(Entry<'a>),
    Modified(Entry<'a>, Entry<'a>),
    ModeChanged(Entry<'a>, Entry<'a>),
}

/// The changes from `a` to `b`, in path order (both are sorted by path).
pub fn changes<'a>(a: &'a Manifest, b: &'a Manifest) -> Vec<Change<'a>> {
    let (mut xs, mut ys) = (a.entries().peekable(), b.entries().peekable());
    let mut out = Vec::new();
    loop {
        let (x, y) = (xs.peek().copied(), ys.peek().copied());
        match (x, y) {
            (None, None) => break,
            (Some(x), None) => {
                out.push(Change::Removed(x));
                xs.next();
            }
            (None, Some(y)) => {
                out.push(Change::Added(y));
                ys.next();
            }
            (Some(x), Some(y)) => match x.path.cmp(y.path) {
                std::cmp::Ordering::Less => {
                    out.push(Change::Removed(x));
                    xs.next();
                }
                std::cmp::Ordering::Greater => {
                    out.push(Change::Added(y));
                    ys.next();
                }
                std::cmp::Ordering::Equal => {
                    xs.next();
                    ys.next();
                    if x.hash != y.hash {
                        out.push(Change::Modified(x, y));
                    } else if x.mode != y.mode {
                        out.push(Change::ModeChanged(x, y));
                    }
                }
            },
        }
    }
    out
}

pub fn run(args: Args) -> Result<u8> {
    let repo = Repo::open(None)?;
    let mut manifests = Manifests::new(&repo, CacheMode::ReadWrite);
    let mut load =
        |rev: &str| -> Result<std::rc::Rc<Manifest>> { manifests.manifest_of(&repo.commit(rev)?) };
    let (a, b) = (load(&args.a)?, load(&args.b)?);
    if args.checksums {
        let (x, y) = (a.to_sha256sum(), b.to_sha256sum());
        let (x, y) = (String::from_utf8_lossy(&x), String::from_utf8_lossy(&y));
        let diff = similar::TextDiff::from_lines(x.as_ref(), y.as_ref());
        let text = diff
            .unified_diff()
            .header(&format!("{}.sha256", args.a), &format!("{}.sha256", args.b))
            .to_string();
        out(text.as_bytes())?;
        return Ok(0);
    }
    let path = |e: &Entry<'_>| String::from_utf8_lossy(e.path).into_owned();
    // Text output quotes names as git does: a file name cannot forge or erase a line.
    let quoted = |e: &Entry<'_>| crate::quote::c_style(e.path);
    let list = changes(&a, &b);
    if args.json {
        let items: Vec<_> = list
            .iter()
            .map(|c| match c {
                Change::Added(e) => json!({"status": "added", "path": path(e), "sha256": e.hash}),
                Change::Removed(e) => json!({"status": "removed", "path": path(e), "sha256": e.hash}),
                Change::Modified(x, y) => json!({"status": "modified", "path": path(y), "from": x.hash, "to": y.hash}),
                Change::ModeChanged(x, y) => json!({"status": "mode", "path": path(y), "from": format!("{:06o}", x.mode), "to": format!("{:06o}", y.mode)}),
            })
            .collect();
        outln(
            serde_json::to_string_pretty(
                &json!({"schema": "git-seal/diff/v1", "from": args.a, "to": args.b, "changes": items}),
            )
                .unwrap_or_default(),
        )?;
        return Ok(0);
    }
    for c in &list {
        let line = match c {
            Change::Added(e) => format!("A  {}", quoted(e)),
            Change::Removed(e) => format!("D  {}", quoted(e)),
            Change::Modified(_, y) => format!("M  {}", quoted(y)),
            Change::ModeChanged(x, y) => {
                format!("T  {} ({:06o} -> {:06o})", quoted(y), x.mode, y.mode)
            }
        };
        outln(line)?;
    }
    Ok(0)
}
