#!/usr/bin/env python3
"""Checks that Warden's files depend on each other one way only.

A file depends on another when it calls a function (or uses an object) that the
other defines: read from the symbols of the built objects (nm), so a call
through any header counts. Two kinds of loop are refused:

  - between files: a.c uses b.c and b.c uses a.c, directly or through others;
  - between folders: store/ uses ingest/ while ingest/ uses store/, say.

Usage: tools/layers.py OBJDIR [--known FILE] [--map README]
OBJDIR is e.g. build/obj. Prints each loop; exit 1 if any is not known. FILE
lists the loops still to be broken, one a line as comma-separated files: a
loop within one of them is reported as known and does not fail the check, so
the tree can only get better.

With --map, the README's folder table ("| `folder/` | what | calls |") must be
true of the tree: every .c file of a folder is named in the folder's row, and a
folder uses only the folders its row lists under "Calls" (common/ is the floor
every folder may use).
"""
import os
import subprocess
import sys


def symbols(path):
    out = subprocess.run(["nm", "--defined-only", path], capture_output=True, text=True).stdout
    defined = {l.split()[-1] for l in out.splitlines() if len(l.split()) == 3 and l.split()[1] in "TDRB"}
    out = subprocess.run(["nm", "--undefined-only", path], capture_output=True, text=True).stdout
    used = {l.split()[-1] for l in out.splitlines() if l.split()}
    return defined, used


def loops(graph):
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index, low, stack, on, found, n = {}, {}, [], set(), [], [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = n[0]; n[0] += 1; stack.append(root); on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = n[0]; n[0] += 1; stack.append(w); on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop(); on.discard(w); comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def check_map(readme, files, dirs, srcdir):
    """The README's folder table against the tree; returns the number of faults."""
    rows = {}
    with open(readme) as f:
        for l in f:
            cells = [c.strip() for c in l.strip().strip("|").split("|")]
            if len(cells) == 3 and cells[0].startswith("`") and cells[0].endswith("/`"):
                rows[cells[0].strip("`").rstrip("/")] = cells
    bad = 0
    for d in sorted(dirs):
        if d not in rows:
            bad += 1
            print("map: folder %s/ has no row in %s" % (d, readme))
            continue
        what, calls = rows[d][1], rows[d][2]
        for name in sorted(os.listdir(os.path.join(srcdir, d))):
            if name.endswith(".c") and "`%s`" % name not in what:
                bad += 1
                print("map: %s/%s is not named in the %s/ row" % (d, name, d))
        allowed = {c.strip() for c in calls.replace(" and ", ",").split(",")} | {"common"}
        for used in sorted(dirs[d] - allowed):
            bad += 1
            users = sorted(f for f in files if os.path.dirname(f) == d and
                           any(os.path.dirname(b) == used for b in files[f]))
            print("map: %s/ uses %s/ (in %s), which its row does not list" % (d, used, ", ".join(users)))
    return bad


def main():
    args = sys.argv[1:]
    readme = None
    if "--map" in args:
        i = args.index("--map")
        readme = args[i + 1]
        del args[i:i + 2]
    known = []
    if "--known" in args:
        i = args.index("--known")
        with open(args[i + 1]) as f:
            known = [set(x.strip() for x in l.split(",")) for l in f
                     if l.strip() and not l.startswith("#")]
        del args[i:i + 2]
    top = args[0] if args else "build/obj"
    objs = {}
    for d, _, files in os.walk(top):
        for f in files:
            if f.endswith(".o") and f != "main.o":
                objs[os.path.relpath(os.path.join(d, f), top)[:-2] + ".c"] = symbols(os.path.join(d, f))
    owner = {}
    for name, (defined, _) in objs.items():
        for s in defined:
            owner[s] = name
    files = {name: {owner[s] for s in used if s in owner and owner[s] != name}
             for name, (_, used) in objs.items()}
    dirs = {}
    for a, uses in files.items():
        dirs.setdefault(os.path.dirname(a), set()).update(
            os.path.dirname(b) for b in uses if os.path.dirname(b) != os.path.dirname(a))
    bad = 0
    for comp in loops(files):
        if any(set(comp) <= k for k in known):
            print("known loop, still to break: " + ", ".join(comp))
            continue
        bad += 1
        print("loop between files: " + ", ".join(comp))
        for a in comp:
            print("    %s uses %s" % (a, ", ".join(sorted(b for b in files[a] if b in comp))))
    for comp in loops(dirs):
        bad += 1
        print("loop between folders: " + ", ".join(comp))
        for a in comp:
            users = sorted(f for f in files if os.path.dirname(f) == a and
                           any(os.path.dirname(b) in comp and os.path.dirname(b) != a for b in files[f]))
            print("    %s/ uses another of them in: %s" % (a, ", ".join(users)))
    if readme:
        bad += check_map(readme, files, dirs, ".")
    print("%d files, %d folders, %d new loops or map faults" % (len(files), len(dirs), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
