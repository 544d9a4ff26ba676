package iam_test

import (
	"fmt"

	"github.com/restorepoint/restorepoint/iam"
)

func ExampleSecret() {
	password := iam.Secret("hunter2")
	fmt.Println(password, fmt.Sprintf("%#v %x", password, password))
	fmt.Println(len(password.Reveal()))
	// Output:
	// [redacted] [redacted] [redacted]
	// 7
}
