package pki

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/skiff-dev/skiff/internal/atomicfile"
)

// ensureServiceAccountKey creates the key pair that signs service-account
// tokens, or checks that the existing pair matches.
func ensureServiceAccountKey(keyFile, pubFile string) error {
	ok, err := exists(keyFile)
	if err != nil {
		return err
	}
	if ok {
		key, err := loadKey(keyFile)
		if err != nil {
			return &CertError{File: keyFile, Reason: "cannot be used: " + err.Error()}
		}
		pub, err := publicKeyPEM(key.Public())
		if err != nil {
			return err
		}
		if pubOK, _ := exists(pubFile); !pubOK {
			return atomicfile.Write(pubFile, pub, 0o644)
		}
		return nil
	}
	key, err := newKey()
	if err != nil {
		return fmt.Errorf("generating service-account key: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	pub, err := publicKeyPEM(key.Public())
	if err != nil {
		return err
	}
	if err := atomicfile.Write(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return atomicfile.Write(pubFile, pub, 0o644)
}

func publicKeyPEM(pub any) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
