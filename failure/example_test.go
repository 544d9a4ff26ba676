package failure_test

import (
	"fmt"

	"github.com/restorepoint/restorepoint/failure"
)

func ExampleClassOf() {
	var problems failure.FieldErrors
	problems.Add("checkpoint.vault_id", "required")
	err := fmt.Errorf("create checkpoint: %w", problems.Err())
	fmt.Println(err)
	fmt.Println(failure.ClassOf(err), failure.Retryable(err))

	err = fmt.Errorf("create checkpoint: %w", fmt.Errorf("connection reset"))
	fmt.Println(failure.ClassOf(err), failure.Retryable(err))
	// Output:
	// create checkpoint: checkpoint.vault_id: required
	// invalid false
	// unavailable true
}
