package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/edgetoon/edgetoon/model"
	"github.com/edgetoon/edgetoon/model/tflite"
)

// The teacher's weights are not ours to commit (CC BY-NC-SA 4.0), so the
// default model is made on each machine: from the shared copy when there
// is one, else from its public source, checked against a known digest.
const (
	teacherFile   = "whitebox_cartoon_fp16.tflite"
	teacherModel  = "web/dist/models/whitebox.safetensors" // where the build embeds it (builtinDirs)
	teacherSHA256 = "7ebaaf2c3e83eb8332f19b333da507aa43752d2b418df9e67808a77d8432de02"
	teacherURL    = "https://raw.githubusercontent.com/margaretmz/Cartoonizer-with-TFLite/b2cfa4a0547edaa63ba4e20dc555dc6fc79c22f9/android/app/src/main/ml/whitebox_cartoon_gan_fp16.tflite"
)

func runFetchTeacher(args []string) error {
	fs := flag.NewFlagSet("fetch-teacher", flag.ContinueOnError)
	out := fs.String("o", teacherModel, "output model file")
	shared := fs.String("shared", "../shared/models", "folder searched first for "+teacherFile)
	url := fs.String("url", teacherURL, "public source used when the shared copy is absent")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data, from, err := teacherBytes(filepath.Join(*shared, teacherFile), *url)
	if err != nil {
		return err
	}
	g, err := tflite.Import(data, tflite.Options{Name: "whitebox", FileName: teacherFile})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := model.WriteFile(*out, g, "F16"); err != nil {
		return err
	}
	fmt.Printf("wrote %s from %s\n", *out, from)
	return nil
}

// teacherBytes returns the teacher file from local, else from url; either
// way its SHA-256 must match, so a tampered or changed file is refused.
func teacherBytes(local, url string) ([]byte, string, error) {
	if data, err := os.ReadFile(local); err == nil {
		if err := checkDigest(data, teacherSHA256); err != nil {
			return nil, "", fmt.Errorf("%s: %w", local, err)
		}
		return data, local, nil
	}
	client := &http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Get(url)
	if err != nil {
		return nil, "", fmt.Errorf("download teacher: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("download teacher from %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, "", fmt.Errorf("download teacher: %w", err)
	}
	if err := checkDigest(data, teacherSHA256); err != nil {
		return nil, "", fmt.Errorf("download from %s: %w", url, err)
	}
	return data, url, nil
}

func checkDigest(data []byte, want string) error {
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("sha256 %s, want %s: not the expected teacher file", got, want)
	}
	return nil
}
