package iam_test

import (
	"context"
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

func ExampleContextSource() {
	src := iam.ContextSource{Fallback: iam.NewStatic("token-from-env")}

	// A FunctionGraph request with its X-CFF-Auth-Token header.
	ctx := iam.WithToken(context.Background(), "token-from-request")
	token, _ := src.Token(ctx)
	fmt.Println(token)

	// A request without one.
	token, _ = src.Token(context.Background())
	fmt.Println(token)
	// Output:
	// token-from-request
	// token-from-env
}
