# SPDX-License-Identifier: MIT
# table.sh -- bench_table RESULTS: the README's Performance tables
# (Markdown) from test/bench/run's "BENCH ..." lines. Sourced by run; also
#   bash -c '. test/bench/table.sh; bench_table FILE'
# turns a saved run's output back into the tables.

bench_table() {
    awk '
    function v(key,   i, kv) {
        for (i = 2; i <= NF; i++) {
            split($i, kv, "=")
            if (kv[1] == key)
                return substr($i, length(key) + 2)
        }
        return ""
    }
    function mib(k) { return k == "" ? "-" : sprintf("%.1f", k / 1024) }
    function pct(a, b) { return b > 0 ? sprintf("%.0f%%", 100 * a / b) : "-" }
    /^BENCH part=ingest / {
        key = v("target") " " v("conns")
        ing[++ni] = key
        rate[key] = v("accepted_per_s"); line[key] = $0
        if (v("target") == "ceiling") ceil[v("conns")] = v("accepted_per_s")
    }
    /^BENCH part=e2e / {
        key = v("server") " " v("sender")
        e2e[++ne] = key; eline[key] = $0
        # the component ceilings: with stanzas like those of xmta, and minimal
        if (v("sender") == "component-xmta-stanza") comp[v("server")] = v("delivered_per_s")
        if (v("sender") == "component-minimal" || v("sender") == "component") minc[v("server")] = v("delivered_per_s")
    }
    /^BENCH part=callgrind / { cg[++nc] = $0 }
    /^BENCH part=memory / { mem[++nm] = $0 }
    END {
        if (ni) {
            print "Ingest (wrk -t1, keep-alive, short text webhook, xmta to a sink that discards):\n"
            print "| target | conns | accepted/s | of ceiling | p50 ms | p99 ms | non-2xx | peak RSS MiB | CPU s / 10k | load |"
            print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            for (i = 1; i <= ni; i++) {
                $0 = line[ing[i]]
                printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                    v("target"), v("conns"), v("accepted_per_s"),
                    pct(v("accepted_per_s"), ceil[v("conns")]), v("p50_ms"),
                    v("p99_ms"), v("non2xx") + v("errors"),
                    mib(v("peak_rss_kib")), v("cpu_s_per_10k"), v("load")
            }
            print ""
        }
        if (ne) {
            print "End to end (webhook or sender to a real client that counts; 32 HTTP connections):\n"
            print "| server | sender | delivered/s | of component ceiling | of minimal-stanza ceiling | p50 ms | p99 ms | sent | lost | load |"
            print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
            for (i = 1; i <= ne; i++) {
                $0 = eline[e2e[i]]
                printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                    v("server"), v("sender"), v("delivered_per_s"),
                    pct(v("delivered_per_s"), comp[v("server")]),
                    pct(v("delivered_per_s"), minc[v("server")]), v("p50_ms"),
                    v("p99_ms"), v("sent"), v("lost"), v("load")
            }
            print ""
        }
        if (nc) {
            print "Instructions per webhook, decode + build + serialize (callgrind; daemon-text: all of xmta in user space, per text webhook, daemon-text-durable: the same with the spool, ceiling: bench_ceiling per request, measured the same way):\n"
            print "| format | instructions |"
            print "|---|---:|"
            for (i = 1; i <= nc; i++) {
                $0 = cg[i]
                printf "| %s | %s |\n", v("format"), v("instructions_per_webhook")
            }
            print ""
        }
        if (nm) {
            print "Memory (RSS of xmta):\n"
            print "| case | RSS MiB |"
            print "|---|---:|"
            for (i = 1; i <= nm; i++) {
                $0 = mem[i]
                c = v("case")
                if (c == "idle_conns") c = v("conns") " idle keep-alive connections"
                else if (c == "queued_memory") c = v("messages") " messages queued (in memory)"
                else if (c == "queued_durable") c = v("messages") " messages spooled (durable)"
                printf "| %s | %s |\n", c, mib(v("rss_kib"))
            }
            print ""
        }
    }' "$1"
}
