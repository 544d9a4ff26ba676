package main

import (
	"reflect"
	"testing"
)

func TestParseBench(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/restorepoint/restorepoint/function
cpu: Some CPU @ 2.0GHz
BenchmarkPipeline/server.tagged-2         	   24099	     47362 ns/op	   11593 B/op	     184 allocs/op
BenchmarkPipeline/deploy.pre-16           	   18926	     61350.5 ns/op	   14570 B/op	     233 allocs/op
BenchmarkFloor   	  140922	      7113 ns/op
BenchmarkBroken-2 FAIL
PASS
ok  	github.com/restorepoint/restorepoint/function	6.086s
`
	want := []benchResult{
		{"Pipeline/server.tagged", 47362, 11593, 184},
		{"Pipeline/deploy.pre", 61350.5, 14570, 233},
		{"Floor", 7113, 0, 0},
	}
	if got := parseBench(out); !reflect.DeepEqual(got, want) {
		t.Errorf("parseBench:\n got %+v\nwant %+v", got, want)
	}
}
