#!/usr/bin/env python3
"""Finds import cycles between the modules of each crate under crates/.

A module's file (src/NAME.rs or src/NAME/mod.rs plus the files under src/NAME/) depends
on a sibling module when its non-test code names it: `crate::NAME`, `super::NAME` from a
submodule, or an item that lib.rs re-exports from NAME (`crate::Error` -> `error`).
Comments and `#[cfg(test)]` modules are skipped: tests may look anywhere. Prints every
edge with `-v`, every cycle found, and exits 1 if there is one.

Usage: python3 scripts/module-cycles.py [-v] [crates/NAME ...]
"""

import pathlib
import re
import sys


def strip(text):
    """The code without comments, string contents and #[cfg(test)] modules."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = []
    skip_depth = None
    depth = 0
    pending_test = False
    for line in text.splitlines():
        code = re.sub(r'"(\\.|[^"\\])*"', '""', line)
        code = code.split("//", 1)[0]
        if skip_depth is None and re.match(r"\s*#\[cfg\(test\)\]", code):
            pending_test = True
            continue
        if pending_test and re.match(r"\s*(pub(\(crate\))?\s+)?mod\s+\w+\s*\{", code):
            skip_depth = depth
        pending_test = False if skip_depth is not None or code.strip() else pending_test
        depth += code.count("{") - code.count("}")
        if skip_depth is not None:
            if depth <= skip_depth:
                skip_depth = None
            continue
        out.append(code)
    return "\n".join(out)


def modules(src):
    """Top-level module name -> list of its files."""
    mods = {}
    for f in sorted(src.rglob("*.rs")):
        rel = f.relative_to(src)
        if rel.parts[0] in ("lib.rs", "main.rs", "bin"):
            continue
        name = rel.parts[0].removesuffix(".rs")
        mods.setdefault(name, []).append(f)
    return mods


def reexports(lib, names):
    """Item name re-exported by lib.rs -> the module it comes from."""
    found = {}
    for m in re.finditer(r"pub\s+use\s+(\w+)::(\{[^}]*\}|[\w:]+(?:\s+as\s+\w+)?)\s*;", lib):
        mod, items = m.group(1), m.group(2)
        if mod not in names:
            continue
        for item in re.split(r"[,{}]", items):
            item = item.strip()
            if not item:
                continue
            parts = item.split(" as ")
            found[parts[-1].strip().split("::")[-1]] = mod
    return found


def edges(crate):
    src = crate / "src"
    mods = modules(src)
    names = set(mods)
    lib = strip((src / "lib.rs").read_text())
    items = reexports(lib, names)
    graph = {m: set() for m in mods}
    for mod, files in mods.items():
        for f in files:
            code = strip(f.read_text())
            for m in re.finditer(r"\bcrate::(\w+)", code):
                target = m.group(1)
                target = target if target in names else items.get(target)
                if target and target != mod:
                    graph[mod].add(target)
            # `use crate::{a, b::C}` groups.
            for m in re.finditer(r"\bcrate::\{([^}]*)\}", code):
                for name in re.findall(r"(?:^|,)\s*(\w+)", m.group(1)):
                    target = name if name in names else items.get(name)
                    if target and target != mod:
                        graph[mod].add(target)
            # A file directly under src/ has the crate root as `super`.
            if f.parent == src:
                for m in re.finditer(r"\bsuper::(\w+)", code):
                    target = m.group(1)
                    target = target if target in names else items.get(target)
                    if target and target != mod:
                        graph[mod].add(target)
    return graph


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
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
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    args = sys.argv[1:]
    verbose = "-v" in args
    args = [a for a in args if a != "-v"]
    root = pathlib.Path(__file__).resolve().parent.parent
    crates = [pathlib.Path(a) for a in args] or sorted((root / "crates").iterdir())
    bad = False
    for crate in crates:
        graph = edges(crate)
        if verbose:
            for m in sorted(graph):
                print(f"{crate.name}: {m} -> {', '.join(sorted(graph[m])) or '-'}")
        for comp in cycles(graph):
            bad = True
            print(f"{crate.name}: import cycle among {', '.join(comp)}")
    if not bad:
        print(f"no import cycle between the modules of {len(crates)} crates")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
