// Package openai translates between OpenAI's Chat Completions API and
// Anthropic's Messages API, so OpenAI-style clients can use every Claude
// deployment through the same router as /v1/messages. It is translation
// only: no HTTP, no routing.
//
// The way of one call:
//
//	TranslateRequest(body)        OpenAI request  -> Anthropic request (Translated.Body)
//	TranslateResponse(body, alias) Anthropic message -> chat.completion
//	StreamTranslator.Event(ev)     one Anthropic event -> chat.completion.chunk lines
//	StreamTranslator.Finish()      usage chunk (if asked for) and "data: [DONE]"
//	FromLLM / FromError            any failure -> {"error":{message,type,param,code}}
//
// Everything is built by appending to byte slices; texts, schemas and
// partial tool arguments are copied as the raw JSON the other side sent,
// so nothing is decoded and re-encoded and the streaming path does not
// allocate per chunk.
package openai
