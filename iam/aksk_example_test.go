package iam_test

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/iam"
)

// Sign a request with access keys; this is the signing guide's worked
// example, so the signature is the published one.
func ExampleKeys_Sign() {
	req, _ := http.NewRequest(http.MethodGet,
		"https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0", nil)
	req.Header.Set("Content-Type", "application/json")
	keys := iam.Keys{AccessKey: "QTWAOYTTINDUT2QVKYUC", SecretKey: "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"}
	if err := keys.Sign(req, nil, time.Date(2019, 11, 15, 3, 36, 55, 0, time.UTC)); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(req.Header.Get("X-Sdk-Date"))
	fmt.Println(strings.ReplaceAll(req.Header.Get("Authorization"), ", ", ",\n  "))
	fmt.Println(keys)
	// Output:
	// 20191115T033655Z
	// SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC,
	//   SignedHeaders=content-type;host;x-sdk-date,
	//   Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe
	// iam.Keys{AccessKey: "QTWAOYTTINDUT2QVKYUC", SecretKey: [redacted], SecurityToken: [none]}
}
