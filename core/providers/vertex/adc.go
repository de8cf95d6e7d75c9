package vertex

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/oauth2/google"
)

// findDefaultCredentials is Application Default Credentials
// (google.FindDefaultCredentials: GOOGLE_APPLICATION_CREDENTIALS, gcloud's
// application-default file, then the metadata server), except that the
// metadata server is only asked on a host that looks like Google Cloud. On
// any other host the library would probe metadata.google.internal and
// 169.254.169.254 first, for nothing.
func findDefaultCredentials(ctx context.Context) (*google.Credentials, error) {
	if os.Getenv("GOOGLE_APPLICATION_CREDENTIALS") == "" && !gcloudCredentialsExist() && !onGoogleCloud() {
		return nil, errors.New("no GOOGLE_APPLICATION_CREDENTIALS, no gcloud application-default credentials, " +
			"and not on Google Cloud (the metadata server was not asked)")
	}
	return google.FindDefaultCredentials(ctx, Scope)
}

// gcloudCredentialsExist reports whether `gcloud auth application-default
// login` left a credentials file where x/oauth2 looks for one.
func gcloudCredentialsExist() bool {
	dir := os.Getenv("CLOUDSDK_CONFIG")
	if dir == "" {
		if runtime.GOOS == "windows" {
			dir = filepath.Join(os.Getenv("APPDATA"), "gcloud")
		} else if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, ".config", "gcloud")
		}
	}
	_, err := os.Stat(filepath.Join(dir, "application_default_credentials.json"))
	return err == nil
}

// onGoogleCloud reports whether a metadata server is to be expected: one is
// named (GCE_METADATA_HOST), the platform says so (Cloud Run services and
// jobs, Cloud Functions, App Engine), or the machine's DMI product name is
// Google's (Compute Engine and GKE nodes), as cloud.google.com/go/compute/metadata
// itself checks before it waits long for the server.
func onGoogleCloud() bool {
	for _, v := range []string{"GCE_METADATA_HOST", "K_SERVICE", "CLOUD_RUN_JOB", "FUNCTION_TARGET", "GAE_SERVICE"} {
		if os.Getenv(v) != "" {
			return true
		}
	}
	b, err := os.ReadFile("/sys/class/dmi/id/product_name")
	return err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "Google")
}
