// Regenerates testdata/claude-tokenizer-counts.json (see tokencount_test.go):
//   npm install @anthropic-ai/tokenizer@0.0.4 && node measure-fixtures.js > claude-tokenizer-counts.json
// measure-fixtures reads ../shared/claude-code-requests from /work/shared.
const { countTokens } = require('@anthropic-ai/tokenizer');
const fs = require('fs');
const dir = '/work/shared/claude-code-requests/';
const out = {};
for (const f of fs.readdirSync(dir).filter(f => f.endsWith('.json')).sort()) {
  const d = JSON.parse(fs.readFileSync(dir + f));
  const b = d.body;
  if (!b || !b.messages) continue;
  // What the model reads: the text of system, messages and the tool definitions.
  const parts = [];
  const sys = b.system;
  if (typeof sys === 'string') parts.push(sys); else if (Array.isArray(sys)) for (const s of sys) parts.push(s.text || '');
  for (const m of b.messages) {
    if (typeof m.content === 'string') { parts.push(m.content); continue; }
    for (const c of m.content || []) {
      if (c.type === 'text') parts.push(c.text);
      else if (c.type === 'tool_use') parts.push(c.name + JSON.stringify(c.input));
      else if (c.type === 'tool_result') parts.push(typeof c.content === 'string' ? c.content : JSON.stringify(c.content));
      else if (c.type === 'thinking') parts.push(c.thinking || '');
      else parts.push(JSON.stringify(c));
    }
  }
  for (const t of b.tools || []) parts.push(JSON.stringify(t));
  const text = parts.join('\n');
  out[f] = { text_tokens: countTokens(text), json_tokens: countTokens(JSON.stringify({system: b.system, messages: b.messages, tools: b.tools})), bytes: JSON.stringify(b).length };
}
console.log(JSON.stringify(out, null, 1));
