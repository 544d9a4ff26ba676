package main

import (
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	got := table([]row{
		{figure: "throughput, 64 senders", unit: "events/s", rp: num(900), floor: num(1000), sdk: num(600),
			target: "≥ 0.8× floor", met: met(true), ahead: higher},
		{figure: "p99, 64 senders", unit: "ms", decimals: 2, rp: num(3.5), floor: num(2), sdk: num(7),
			target: "≤ floor + 1 ms", met: met(false)},
		{figure: "peak RSS", unit: "MB", decimals: 1, rp: num(30), floor: num(15), sdk: num(20), ahead: lower},
		{figure: "cold start, Lambda", unit: "ms", rp: missing("not measured: no RIE"), floor: missing(""),
			target: "≤ 20 ms", ahead: lower},
		{figure: "non-200 answers", rp: num(0), floor: num(0), sdk: num(0)},
	})
	want := `| figure                            |         restorepoint | floor | rp ÷ floor | SDK function | rp ÷ SDK | target                 | met?                       |
| --------------------------------- | -------------------: | ----: | ---------: | -----------: | -------: | ---------------------- | -------------------------- |
| throughput, 64 senders (events/s) |                  900 |  1000 |      0.90× |          600 |    1.50× | ≥ 0.8× floor; > 1× SDK | yes; yes                   |
| p99, 64 senders (ms)              |                 3.50 |  2.00 |      1.75× |         7.00 |    0.50× | ≤ floor + 1 ms         | **NO**                     |
| peak RSS (MB)                     |                 30.0 |  15.0 |      2.00× |         20.0 |    1.50× | < 1× SDK               | **NO**                     |
| cold start, Lambda (ms)           | not measured: no RIE |     — |          — |            — |        — | ≤ 20 ms; < 1× SDK      | not measured; not measured |
| non-200 answers                   |                    0 |     0 |          — |            0 |        — | —                      | —                          |
`
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

// Being ahead of the SDK function is a strict inequality in the figure's
// direction, and not measured when either value is missing.
func TestAheadTarget(t *testing.T) {
	for _, c := range []struct {
		ahead   better
		rp, sdk value
		want    string
	}{
		{higher, num(2), num(1), "yes"},
		{higher, num(1), num(1), "**NO**"},
		{higher, num(1), num(2), "**NO**"},
		{lower, num(1), num(2), "yes"},
		{lower, num(2), num(2), "**NO**"},
		{lower, num(3), num(2), "**NO**"},
		{lower, num(1), missing(""), "not measured"},
		{higher, missing("x"), num(1), "not measured"},
	} {
		target, got := row{rp: c.rp, sdk: c.sdk, ahead: c.ahead}.targets()
		if got != c.want || target != c.ahead.text() {
			t.Errorf("ahead %v, rp %v, sdk %v: %q %q, want %q %q", c.ahead, c.rp, c.sdk, target, got, c.ahead.text(), c.want)
		}
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
