package cbrtest

import (
	"encoding/json"
	"net/http"
)

// Error codes the emulator answers with, in the error_code field of the CBR
// error body or in skipped_resources[].code.
const (
	// CodeNoResource (400): none of the requested resources can be backed up.
	CodeNoResource = "BackupService.0001"
	// CodeBeingBackedUp: the resource is in a checkpoint that is still
	// "protecting". The real API answers it as a 500; the emulator uses it as
	// the skipped_resources code of such a resource.
	CodeBeingBackedUp = "BackupService.0002"
	// CodeVaultNotFound (404): the vault does not exist.
	CodeVaultNotFound = "BackupService.6105"
	// CodeVaultFull (400): the vault's used capacity has reached its size;
	// it takes no new checkpoint and no new resource.
	CodeVaultFull = "BackupService.6114"
	// CodeVaultType (400): the vault's type does not hold the resource's
	// type (addresources of a volume to a server vault, for example).
	CodeVaultType = "BackupService.6124"
	// CodeNotInVault: the resource is not associated with the vault (a
	// skipped_resources code).
	CodeNotInVault = "BackupService.6135"
	// CodeInOtherVault (400): addresources of a resource that is associated
	// with another vault. The real code for it is not documented; 6137 is
	// documented (as a 500 of checkpoint creation) for one disk in several
	// vaults, and the emulator answers it as a 400.
	CodeInOtherVault = "BackupService.6137"
	// CodeBackupLocked (400): the backup is locked and cannot be deleted.
	// The real code and status are not documented; this is the emulator's
	// choice, a 400 in the vault range like the documented vault refusals.
	CodeBackupLocked = "BackupService.6150"
	// CodeCheckpointNotFound (404): the checkpoint does not exist. The real
	// code is not documented; this one is the emulator's choice.
	CodeCheckpointNotFound = "BackupService.6300"
	// CodeBackupNotFound (404): the backup does not exist (or was deleted).
	// The real code is not documented; this one is the emulator's choice.
	CodeBackupNotFound = "BackupService.6301"
	// CodeResourceNotFound (404): addresources of an SFS Turbo file system
	// the cloud does not have.
	CodeResourceNotFound = "BackupService.6302"
	// CodeVolumeNotFound (404): addresources of a volume the cloud does not have.
	CodeVolumeNotFound = "BackupService.7000"
	// CodeServerNotFound (404): addresources of a server the cloud does not have.
	CodeServerNotFound = "BackupService.7100"
	// CodeForbidden (403): the project in the path is not the token's project.
	CodeForbidden = "BackupService.8600"
	// CodeInvalidParameter (400, 413): the request body failed validation.
	CodeInvalidParameter = "BackupService.9900"
	// CodeUnknown (5xx): an unknown error; the default code of injected 5xx faults.
	CodeUnknown = "BackupService.9910"
	// CodeAuthFailed (401): authentication failed.
	CodeAuthFailed = "BackupService.9998"
	// CodeThrottled (429): the API gateway's throttling code.
	CodeThrottled = "APIGW.0308"
)

// Messages of the errors and skips the emulator reports.
const (
	msgVaultNotFound      = "Vault does not exist."
	msgNoResource         = "No resource available for backup."
	msgNotInVault         = "The resource does not exist in the vault."
	msgBeingBackedUp      = "Resources are being backed up. Try again later."
	msgCheckpointNotFound = "The restore point does not exist."
	msgBackupNotFound     = "The backup does not exist."
	msgBackupLocked       = "The backup is locked and cannot be deleted."
	msgVaultFull          = "The used capacity of the vault exceeds the maximum."
	msgUnauthorized       = "The request you have made requires authentication."
	msgWrongPassword      = "The username or password is wrong."
)

// apiError is the CBR error body.
type apiError struct {
	ErrorCode string `json:"error_code"`
	ErrorMsg  string `json:"error_msg"`
}

// keystoneError is the error body of IAM and of the API gateway.
type keystoneError struct {
	Error keystoneErrorBody `json:"error"`
}

// keystoneErrorBody is the inside of keystoneError.
type keystoneErrorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Title   string `json:"title"`
}

// writeJSON answers status with v encoded as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen with the emulator's own types
		status = http.StatusInternalServerError
		b, _ = json.Marshal(apiError{CodeUnknown, err.Error()})
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers status with the CBR error body.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{ErrorCode: code, ErrorMsg: msg})
}

// writeKeystoneError answers status with the Keystone error body.
func writeKeystoneError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, keystoneErrorOf(status, msg))
}

// keystoneErrorOf returns the Keystone error body for status.
func keystoneErrorOf(status int, msg string) keystoneError {
	return keystoneError{Error: keystoneErrorBody{Code: status, Message: msg, Title: http.StatusText(status)}}
}

// defaultCode returns the error code an injected fault with status and no
// Code answers with.
func defaultCode(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return CodeAuthFailed
	case status == http.StatusForbidden:
		return CodeForbidden
	case status == http.StatusNotFound:
		return CodeVaultNotFound
	case status == http.StatusTooManyRequests:
		return CodeThrottled
	case status >= 500:
		return CodeUnknown
	default:
		return CodeInvalidParameter
	}
}
