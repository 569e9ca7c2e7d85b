#!/usr/bin/env python3
"""The search benchmark: benches/search.py BINARY [--quick]

On a generated store (benches/gen_store.py; 100,000 tickets, 500,000 messages, 95%
archived, written once to $MAILTIX_BENCH_DATA or target/bench-data and reused; --quick: a
tiny one in a temp dir) it measures, as medians of whole processes:

- the first full build of the index (`mailtix search --all` with no index), with its
  peak memory (the child's max RSS);
- a warm query (nothing changed), default scope (open tickets) and --all, each
  interleaved with `grep -rl WORD` over the same ticket files;
- one new message delivered to an open ticket, then the catch-up and the query;
- delivery with and without an index in the store, interleaved (the index must not
  make delivery slower: deliver never reads it).
Prints a Markdown table for BENCHMARKS.md.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, env, stdin=b""):
    """Runs cmd; returns (seconds, exit code, max RSS in KiB)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    p.stdin.write(stdin)
    p.stdin.close()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    dt = time.perf_counter() - t
    return dt, p.returncode, ru.ru_maxrss, err


def ms(x):
    return f"{x * 1000:.1f} ms" if x < 10 else f"{x:.1f} s"


def main():
    binary = os.path.abspath(sys.argv[1])
    quick = "--quick" in sys.argv
    rounds = 5 if quick else 21
    if quick:
        tmp = tempfile.mkdtemp(prefix="mailtix-search-bench.")
        store = os.path.join(tmp, "store")
        tickets, messages = 400, 2000
    else:
        data = os.environ.get("MAILTIX_BENCH_DATA", "target/bench-data")
        store = os.path.join(data, "store")
        tickets, messages = 100_000, 500_000
        tmp = None
    marker = os.path.join(store, ".mailtix", f"generated-{tickets}-{messages}")
    if not os.path.exists(marker):
        shutil.rmtree(store, ignore_errors=True)
        subprocess.check_call([sys.executable, os.path.join(HERE, "gen_store.py"),
                               store + ".tmp", str(tickets), str(messages)])
        os.rename(store + ".tmp", store)
        open(marker, "w").close()
    env = {"PATH": "/usr/bin:/bin", "MAILTIX_STORE": store, "HOME": "/nonexistent"}
    cwd = os.path.dirname(store)
    os.chdir(cwd)
    # a config with an admin and no mail sent: deliver's cost is the store's
    cfg = os.path.join(cwd, "bench-config.toml")
    with open(cfg, "w") as f:
        f.write(f'store = "{store}"\ndomain = "example.org"\nadmins = ["boss@admin.example"]\n'
                '[mail]\ntransport = "sendmail"\nsendmail = "/bin/true"\n')
    mt = [binary, "--config", cfg]
    rows = []
    du = subprocess.run(["du", "-sm", "--exclude=.mailtix", store], capture_output=True, text=True)
    print(f"store: {tickets} tickets, {messages} messages, {du.stdout.split()[0]} MB", file=sys.stderr)

    # 1. the first full build
    shutil.rmtree(os.path.join(store, ".mailtix", "search"), ignore_errors=True)
    dt, code, rss, err = run(mt + ["search", "--all", "zebracorn"], env)
    assert code in (0, 1), err
    isize = subprocess.run(["du", "-sm", os.path.join(store, ".mailtix", "search")],
                           capture_output=True, text=True).stdout.split()[0]
    rows.append(("first full build (`search --all`, no index)", ms(dt), f"peak RSS {rss // 1024} MB, index {isize} MB", "", "< 10 min, < 1 GB",
                 "yes" if dt < 600 and rss < 1024 * 1024 else "no"))

    # 2. warm queries against grep, interleaved
    def versus(label, search_args, grep_args, target_ms):
        run(mt + search_args, env)  # warm-up (and catch-up, if any)
        run(grep_args, env)
        a, b = [], []
        for i in range(rounds):
            pair = [(a, mt + search_args), (b, grep_args)]
            if i % 2:
                pair.reverse()
            for acc, cmd in pair:
                dt, code, _, err = run(cmd, env)
                assert code in (0, 1), (cmd, err)
                acc.append(dt)
        ma, mb = statistics.median(a), statistics.median(b)
        ok = ma * 1000 < target_ms and mb / ma >= 5
        rows.append((label, ms(ma), f"grep -rl {ms(mb)}", f"{mb / ma:.1f}× faster",
                     f"< {target_ms} ms, ≥ 5× grep", "yes" if ok else "no"))

    word = "zebracorn"
    open_grep = ["grep", "-rl", "--exclude-dir=.mailtix", "--exclude-dir=archived", word, store]
    all_grep = ["grep", "-rl", "--exclude-dir=.mailtix", word, store]
    versus("warm query, default scope (open tickets)", ["search", word], open_grep, 100)
    versus("warm query, `--all`", ["search", "--all", word], all_grep, 100)
    versus("warm query, `--all`, a phrase and a prefix",
           ["search", "--all", '"zebracorn escaped"', "-from:boss"], all_grep, 100)

    # 3. one new message, then catch-up + query
    open_ids = sorted(int(n) for n in os.listdir(store) if n.isdigit())
    target = open_ids[len(open_ids) // 2]
    times = []
    for i in range(rounds):
        msg = (f"From: someone@customer.example\nTo: ticket-{target}@example.org\n"
               f"Subject: more\nMessage-ID: <bench-{time.time_ns()}@x>\n\n"
               f"another capybara {i}\n").encode()
        _, code, _, err = run(mt + ["deliver", "--recipient", f"ticket-{target}@example.org",
                                    "--sender", "someone@customer.example"], env, msg)
        assert code == 0, err
        time.sleep(0.25)  # past the racy window, as a person typing is
        dt, code, _, err = run(mt + ["search", "capybara"], env)
        assert code == 0, err
        times.append(dt)
    m = statistics.median(times)
    rows.append(("one new message: catch-up + query (default scope)", ms(m), "", "", "< 150 ms",
                 "yes" if m < 0.150 else "no"))
    times = []
    for i in range(max(3, rounds // 3)):
        msg = (f"From: someone@customer.example\nTo: ticket-{target}@example.org\n"
               f"Subject: more\nMessage-ID: <bench-all-{time.time_ns()}@x>\n\nmore capybara\n").encode()
        run(mt + ["deliver", "--recipient", f"ticket-{target}@example.org",
                  "--sender", "someone@customer.example"], env, msg)
        time.sleep(0.25)
        dt, code, _, err = run(mt + ["search", "--all", "capybara"], env)
        assert code == 0, err
        times.append(dt)
    m = statistics.median(times)
    rows.append(("one new message: catch-up + query (`--all`)", ms(m), "", "", "< 150 ms",
                 "yes" if m < 0.150 else "no"))

    # 4. deliver, with and without the index in the store, interleaved
    search_dir = os.path.join(store, ".mailtix", "search")
    aside = os.path.join(store, ".mailtix", "search.aside")
    a, b = [], []
    for i in range(rounds):
        for with_index in ([True, False] if i % 2 == 0 else [False, True]):
            if with_index and os.path.exists(aside):
                os.rename(aside, search_dir)
            if not with_index and os.path.exists(search_dir):
                os.rename(search_dir, aside)
            msg = (f"From: boss@admin.example\nTo: ticket-{target}@example.org\n"
                   f"Subject: re\nMessage-ID: <bench-d-{time.time_ns()}@x>\n\nok\n").encode()
            dt, code, _, err = run(mt + ["deliver", "--recipient", f"ticket-{target}@example.org",
                                         "--sender", "boss@admin.example"], env, msg)
            assert code == 0, err
            (a if with_index else b).append(dt)
    if os.path.exists(aside):
        os.rename(aside, search_dir)
    ma, mb = statistics.median(a), statistics.median(b)
    rows.append(("deliver (follow-up), index present vs absent", ms(ma), f"{ms(mb)}",
                 f"{ma / mb:.2f}×", "unchanged", "yes" if ma / mb < 1.2 else "no"))

    print("| case | mailtix (median) | compared with (median) | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if tmp:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
