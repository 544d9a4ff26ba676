package main

import (
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	got := table([]row{
		{figure: "throughput, 64 senders", unit: "events/s", rp: num(900), floor: num(1000),
			target: "≥ 0.8× floor", met: met(true)},
		{figure: "p99, 64 senders", unit: "ms", decimals: 2, rp: num(3.5), floor: num(2),
			target: "≤ floor + 1 ms", met: met(false)},
		{figure: "cold start, Lambda", unit: "ms", rp: missing("not measured: no RIE"), floor: missing(""),
			target: "≤ 20 ms"},
		{figure: "non-200 answers", rp: num(0), floor: num(0)},
	})
	want := `| figure                            |         restorepoint | floor | ratio | target         | met?         |
| --------------------------------- | -------------------: | ----: | ----: | -------------- | ------------ |
| throughput, 64 senders (events/s) |                  900 |  1000 | 0.90× | ≥ 0.8× floor   | yes          |
| p99, 64 senders (ms)              |                 3.50 |  2.00 | 1.75× | ≤ floor + 1 ms | **NO**       |
| cold start, Lambda (ms)           | not measured: no RIE |     — |     — | ≤ 20 ms        | not measured |
| non-200 answers                   |                    0 |     0 |     — | —              | —            |
`
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestSplice(t *testing.T) {
	doc, err := splice("", "one")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc, "# Benchmarks\n") || !strings.Contains(doc, markStart+"\none\n"+markEnd) {
		t.Fatalf("new doc:\n%s", doc)
	}
	hand := "# Benchmarks\n\nBy hand, before.\n\n" + doc[strings.Index(doc, "<!--"):] + "\nBy hand, after.\n"
	doc2, err := splice(hand, "two\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"By hand, before.", "By hand, after.", markStart + "\ntwo\n" + markEnd} {
		if !strings.Contains(doc2, s) {
			t.Errorf("spliced doc lacks %q:\n%s", s, doc2)
		}
	}
	if strings.Contains(doc2, "one") {
		t.Errorf("old generated text kept:\n%s", doc2)
	}
	if _, err := splice("# no markers\n", "x"); err == nil {
		t.Error("splice into a doc without markers: no error")
	}
}
