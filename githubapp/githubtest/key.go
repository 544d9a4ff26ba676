package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"sync"
)

// testKey is the app key of a test binary, made on first use: a 2048-bit
// key takes a moment to generate, so every test shares one. No key is
// committed to the repository.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("githubtest: generate RSA key: " + err.Error())
	}
	return key
})

// Key returns the test app's RSA private key (2048 bits, like the keys
// GitHub issues), the same for every call in one process. An API whose
// Options.PublicKey is nil accepts JWTs signed with it.
func Key() *rsa.PrivateKey { return testKey() }

// KeyPEM returns Key as GitHub issues app keys: a PKCS#1
// "RSA PRIVATE KEY" PEM block.
func KeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(Key())})
}
