package main

import (
	"bufio"
	"strconv"
	"strings"
)

// benchResult is one line of go test -bench -benchmem output.
type benchResult struct {
	name        string // without the Benchmark prefix and the -GOMAXPROCS suffix
	nsPerOp     float64
	bytesPerOp  float64
	allocsPerOp float64
}

// parseBench reads go test -bench -benchmem output and returns its results
// in order. Lines that are not results are skipped.
func parseBench(out string) []benchResult {
	var res []benchResult
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // not "name iterations value unit ..."
		}
		r := benchResult{name: strings.TrimPrefix(f[0], "Benchmark")}
		if i := strings.LastIndexByte(r.name, '-'); i > 0 {
			if _, err := strconv.Atoi(r.name[i+1:]); err == nil {
				r.name = r.name[:i]
			}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				r.nsPerOp = v
			case "B/op":
				r.bytesPerOp = v
			case "allocs/op":
				r.allocsPerOp = v
			}
		}
		res = append(res, r)
	}
	return res
}
