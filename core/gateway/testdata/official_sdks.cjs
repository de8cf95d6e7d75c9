// Drives the gateway with the official Node SDKs, as an application would:
// @anthropic-ai/sdk on /v1/messages and openai on /v1/chat/completions.
// Run by TestOfficialNodeSDKs (core/gateway/official_sdks_test.go) with
// NODE_SDKS_DIR (scripts/node-sdks.sh), BASE_URL, API_KEY and MARKER set.
// Prints one JSON object: each check's result, or its error as the SDK
// raised it (class, status, message), so the Go test asserts on both.
'use strict';
const path = require('path');
const sdkRequire = require('module').createRequire(path.join(process.env.NODE_SDKS_DIR, 'package.json'));
const AnthropicModule = sdkRequire('@anthropic-ai/sdk');
const OpenAIModule = sdkRequire('openai');
const Anthropic = AnthropicModule.default || AnthropicModule.Anthropic || AnthropicModule;
const OpenAI = OpenAIModule.default || OpenAIModule.OpenAI || OpenAIModule;

const base = process.env.BASE_URL;
const key = process.env.API_KEY;
const marker = process.env.MARKER;
// No SDK retries: a failure must show, not be papered over.
const anthropic = new Anthropic({ apiKey: key, baseURL: base, maxRetries: 0 });
const openai = new OpenAI({ apiKey: key, baseURL: base + '/v1', maxRetries: 0 });
const bash = {
  name: 'Bash',
  description: 'Run a shell command',
  input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
};

function failure(e) {
  return { error: { class: e && e.constructor && e.constructor.name, status: e && e.status, message: String(e && e.message) } };
}

async function check(name, fn, out) {
  try {
    out[name] = await fn();
  } catch (e) {
    out[name] = failure(e);
  }
}

async function main() {
  const out = {};
  const model = 'claude-sonnet-4-5';
  await check('messages_create', async () => {
    const m = await anthropic.messages.create({ model, max_tokens: 100, messages: [{ role: 'user', content: 'say hello' }] });
    return { text: m.content[0].text, stop_reason: m.stop_reason, output_tokens: m.usage.output_tokens, type: m.type };
  }, out);
  await check('messages_stream', async () => {
    const s = anthropic.messages.stream({ model, max_tokens: 100, messages: [{ role: 'user', content: 'say hello' }] });
    let deltas = '';
    s.on('text', (t) => { deltas += t; });
    const m = await s.finalMessage();
    return { deltas, text: m.content[0].text, stop_reason: m.stop_reason, output_tokens: m.usage.output_tokens };
  }, out);
  await check('tool_round_trip', async () => {
    // Streamed, so the SDK assembles the tool input from input_json_delta.
    const messages = [{ role: 'user', content: 'please ' + marker }];
    const first = await anthropic.messages.stream({ model, max_tokens: 200, tools: [bash], messages }).finalMessage();
    const use = first.content.find((b) => b.type === 'tool_use');
    if (!use) return { stop_reason: first.stop_reason, content: first.content };
    messages.push({ role: 'assistant', content: first.content });
    messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'gateway-roundtrip-42' }] });
    const second = await anthropic.messages.stream({ model, max_tokens: 200, tools: [bash], messages }).finalMessage();
    return { stop_reason: first.stop_reason, tool: use.name, command: use.input.command, answer: second.content[0].text };
  }, out);
  await check('count_tokens', async () => {
    const c = await anthropic.messages.countTokens({ model, messages: [{ role: 'user', content: 'count these words for me' }] });
    return { input_tokens: c.input_tokens };
  }, out);
  await check('models_list', async () => {
    const ids = [];
    for await (const m of anthropic.models.list()) ids.push(m.id);
    return { ids };
  }, out);
  await check('bad_key', async () => {
    const bad = new Anthropic({ apiKey: 'sk-not-the-key', baseURL: base, maxRetries: 0 });
    await bad.messages.create({ model, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    return { unexpected: 'accepted' };
  }, out);
  await check('chat_create', async () => {
    const c = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'say hello' }] });
    return { text: c.choices[0].message.content, finish_reason: c.choices[0].finish_reason, object: c.object,
      completion_tokens: c.usage && c.usage.completion_tokens };
  }, out);
  await check('chat_stream', async () => {
    const s = await openai.chat.completions.create({ model, stream: true, stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'say hello' }] });
    let text = '', finish = null, usage = null, chunks = 0;
    for await (const ch of s) {
      chunks++;
      if (ch.usage) usage = ch.usage;
      for (const c of ch.choices) {
        if (c.delta && c.delta.content) text += c.delta.content;
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    return { text, finish_reason: finish, chunks, total_tokens: usage && usage.total_tokens };
  }, out);
  await check('chat_tools', async () => {
    // Streamed: the tool call arrives in pieces, assembled as clients do.
    const s = await openai.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'please ' + marker }],
      tools: [{ type: 'function', function: { name: 'Bash', description: 'Run a shell command', parameters: bash.input_schema } }] });
    let name = '', args = '', finish = null;
    for await (const ch of s) {
      for (const c of ch.choices) {
        for (const tc of (c.delta && c.delta.tool_calls) || []) {
          if (tc.function && tc.function.name) name += tc.function.name;
          if (tc.function && tc.function.arguments) args += tc.function.arguments;
        }
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    return { finish_reason: finish, tool: name, command: args && JSON.parse(args).command };
  }, out);
  await check('chat_bad_key', async () => {
    const bad = new OpenAI({ apiKey: 'sk-not-the-key', baseURL: base + '/v1', maxRetries: 0 });
    await bad.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
    return { unexpected: 'accepted' };
  }, out);
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
