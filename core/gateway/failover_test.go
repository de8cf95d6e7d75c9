package gateway_test

import (
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/claude-gateway/claude-gateway/core/gateway"
	"github.com/claude-gateway/claude-gateway/core/providers/bedrock/bedrocktest"
	"github.com/tidwall/gjson"
)

// Through the HTTP server: one deployment failing, the other healthy: no
// client-visible error, and the headers say what happened.
func TestFailoverThroughServer(t *testing.T) {
	for _, status := range []int{429, 500, 529} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			gw := startGateway(t, `
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: simulated/broken, failure_rate: 1, failure_status: `+strconv.Itoa(status)+`}
    model_info: {id: broken}
  - model_name: claude-sonnet
    litellm_params: {model: simulated/healthy, output_tokens: 3}
    model_info: {id: healthy}
general_settings:
  master_key: os.environ/MASTER
`, gateway.Options{})
			retried := 0
			for i := 0; i < 20; i++ {
				body := simpleBody
				if i%2 == 1 {
					body = strings.Replace(body, `"stream":true`, `"stream":false`, 1)
				}
				resp := post(t, gw.URL+"/v1/messages", body, nil)
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 {
					t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
				}
				if id := resp.Header.Get("x-litellm-model-id"); id != "healthy" {
					t.Fatalf("served by %q", id)
				}
				n, _ := strconv.Atoi(resp.Header.Get("x-litellm-attempted-retries"))
				retried += n
			}
			if retried == 0 || retried > 2 {
				// The broken deployment is tried at most until its cooldown starts.
				t.Errorf("%d retries over 20 requests; want the failure seen, then the deployment cooled down", retried)
			}
		})
	}
}

// Every deployment down: 429 with retry-after in Anthropic's shape, never a 5xx.
func TestAllDeploymentsDown(t *testing.T) {
	gw := startGateway(t, `
model_list:
  - model_name: claude-sonnet
    litellm_params: {model: simulated/a, failure_rate: 1, failure_status: 529}
  - model_name: claude-sonnet
    litellm_params: {model: simulated/b, failure_rate: 1, failure_status: 500}
router_settings: {num_retries: 2}
general_settings:
  master_key: os.environ/MASTER
`, gateway.Options{})
	for i := 0; i < 3; i++ {
		resp := post(t, gw.URL+"/v1/messages", simpleBody, nil)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 429 || resp.Header.Get("retry-after") == "" || gjson.GetBytes(b, "error.type").String() != "rate_limit_error" {
			t.Fatalf("request %d: %d retry-after=%q %s", i, resp.StatusCode, resp.Header.Get("retry-after"), b)
		}
	}
}

// Every deployment of a group answers 429 within one request (none was
// cooling down before): the client's 429 carries retry-after, the soonest
// cooldown end, at least 1 s, as when all are already cooling down.
func TestAllDeploymentsRateLimitedInOneRequest(t *testing.T) {
	for _, upstreamRetryAfter := range []string{"", "7"} {
		up := bedrocktest.NewServer(t, bedrocktest.Options{Reply: func(*bedrocktest.Call) bedrocktest.Reply {
			return bedrocktest.Reply{Error: &bedrocktest.Exception{Type: "ThrottlingException", Message: "Too many requests, please wait before trying again.", RetryAfter: upstreamRetryAfter}}
		}})
		gw := startGateway(t, "model_list:\n  - model_name: claude-sonnet\n"+bedrockParams(up, "")+"    model_info: {id: first}\n"+
			"  - model_name: claude-sonnet\n"+bedrockParams(up, "")+"    model_info: {id: second}\n"+cliGeneral, gateway.Options{})
		for _, stream := range []string{"true", "false"} {
			resp := post(t, gw.URL+"/v1/messages", strings.Replace(simpleBody, `"stream":true`, `"stream":`+stream, 1), nil)
			b, _ := io.ReadAll(resp.Body)
			ra, _ := strconv.Atoi(resp.Header.Get("retry-after"))
			if resp.StatusCode != 429 || ra < 1 || gjson.GetBytes(b, "error.type").String() != "rate_limit_error" {
				t.Fatalf("upstream retry-after %q, stream %s: %d retry-after=%q %s", upstreamRetryAfter, stream, resp.StatusCode, resp.Header.Get("retry-after"), b)
			}
			if upstreamRetryAfter == "7" && stream == "true" && ra > 7 {
				t.Errorf("retry-after %d beyond the upstream's 7", ra)
			}
		}
	}
}
