// The official `ollama` npm client against a running `nomoat serve`, unchanged:
// node check.mjs BASE_URL MODEL. Streams a chat and a generate, lists the models, and checks
// that an unknown model is a ResponseError with status 404. Exits non-zero on any failure.
import { Ollama } from 'ollama'

const [host, model] = process.argv.slice(2)
if (!host || !model) {
  console.error('usage: node check.mjs BASE_URL MODEL')
  process.exit(2)
}

function check(cond, what) {
  if (!cond) throw new Error(`failed: ${what}`)
  console.log(`ok: (npm ollama) ${what}`)
}

const client = new Ollama({ host })
const options = { temperature: 0, num_predict: 8, seed: 3 }
const messages = [{ role: 'user', content: 'Say something.' }]

const once = await client.chat({ model, messages, options, stream: false })
check(once.done && once.message.role === 'assistant', 'chat without streaming')

let text = ''
let chunks = 0
let last
for await (const part of await client.chat({ model, messages, options, stream: true })) {
  text += part.message.content
  chunks += 1
  last = part
}
check(last.done && chunks >= 2, `chat streamed in ${chunks} objects, the last done`)
check(text === once.message.content, 'streamed chat text equals the non-streamed one')
check(last.eval_count === once.eval_count && last.total_duration > 0, 'final statistics')

let gen = ''
let done
for await (const part of await client.generate({ model, prompt: 'Once upon a time', options, stream: true })) {
  gen += part.response
  if (part.done) done = part
}
check(done && Array.isArray(done.context) && done.context.length > 0, `generate streamed (${JSON.stringify(gen)}) with context`)

const list = await client.list()
const names = list.models.map((m) => m.model)
check(names.includes(`${model}:latest`) || names.includes(model), `list shows ${model}: ${names.join(', ')}`)
check(list.models.every((m) => m.details.format === 'gguf'), 'list details')

try {
  await client.chat({ model: 'no-such-model', messages, stream: false })
  throw new Error('failed: unknown model raised nothing')
} catch (e) {
  check(e.name === 'ResponseError' && e.status_code === 404 && /not found/.test(e.error), 'unknown model: ResponseError 404')
}
console.log('npm ollama client check passed')
