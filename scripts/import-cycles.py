#!/usr/bin/env python3
"""Lists import circles between the top-level modules of a Rust crate's src/.

A module is a top-level file (src/x.rs) or folder (src/x/); an edge x -> y is any
`crate::y` path written in x (use lines and inline paths; comments, doc comments and
unit tests, `#[cfg(test)] mod tests` at the bottom of a file or a `tests/` folder,
are skipped). Prints each strongly connected component of more than one module and
exits 1 when there is one, 0 when the graph has no circle.

Usage: scripts/import-cycles.py [SRC_DIR]   (default: src)
"""
import os
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "src"
mods = {}
for name in os.listdir(src):
    path = os.path.join(src, name)
    if name.endswith(".rs") and name not in ("main.rs", "lib.rs"):
        mods.setdefault(name[:-3], []).append(path)
    elif os.path.isdir(path):
        for root, _, files in os.walk(path):
            for f in files:
                if f.endswith(".rs"):
                    mods.setdefault(name, []).append(os.path.join(root, f))

ref = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
group = re.compile(r"\buse\s+crate::\{([^;]*)\}", re.S)
edges = {m: set() for m in mods}
for m, files in mods.items():
    for f in files:
        text = open(f, encoding="utf-8").read()
        # Unit tests sit at the bottom of a file (`#[cfg(test)] mod tests`); what they
        # import is not part of the module's dependencies.
        text = re.split(r"#\[cfg\(test\)\]\s*mod\s+tests\b", text)[0]
        if re.search(r"(?:^|/)tests(?:/|\.rs$)", os.path.relpath(f, src)):
            continue
        text = "\n".join(line.split("//")[0] for line in text.splitlines())
        found = set(ref.findall(text))
        for g in group.findall(text):
            found.update(re.findall(r"(?:^|[,{\s])([a-z_][a-z0-9_]*)", g))
        edges[m].update(x for x in found if x in mods and x != m)

# Tarjan's strongly connected components.
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in sorted(edges[v]):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        sccs.append(comp)


sys.setrecursionlimit(10000)
for v in sorted(edges):
    if v not in index:
        visit(v)
circles = [sorted(c) for c in sccs if len(c) > 1]
for c in circles:
    print("circle:", " <-> ".join(c))
    for a in c:
        print("  ", a, "->", ", ".join(sorted(edges[a] & set(c))))
if not circles:
    print(f"no import circle among {len(mods)} modules of {src}")
sys.exit(1 if circles else 0)
