// Regenerates testdata/claude-tokenizer-samples.json (see tokencount_test.go):
//   npm install @anthropic-ai/tokenizer@0.0.4 && node measure-samples.js > claude-tokenizer-samples.json
const { countTokens } = require('@anthropic-ai/tokenizer');
const samples = {
  "japanese": "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。",
  "chinese": "人工智能是计算机科学的一个分支，它企图了解智能的实质，并生产出一种新的能以人类智能相似的方式做出反应的智能机器。",
  "go_code": "func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {\n\tif r.Method != http.MethodPost {\n\t\thttp.Error(w, \"method not allowed\", 405)\n\t\treturn\n\t}\n\tfor i := 0; i < len(s.handlers); i++ {\n\t\ts.handlers[i](w, r)\n\t}\n}\n",
  "emoji": "🚀🔥✨🎉👍🏽😀🙈🌍🍕🎸",
  "hex": "4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 105445aa7843bc8bf206b12000100000 deadbeefcafebabe0123456789abcdef",
  "base64ish": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "english": "The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness.",
  "json": "{\"type\":\"object\",\"properties\":{\"command\":{\"type\":\"string\",\"description\":\"The command to execute\"},\"timeout\":{\"type\":\"number\"}},\"required\":[\"command\"]}",
};
const out = {};
for (const [k, v] of Object.entries(samples)) out[k] = { text: v, tokens: countTokens(v) };
console.log(JSON.stringify(out, null, 1));
