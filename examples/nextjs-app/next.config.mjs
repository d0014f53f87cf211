// The naano package is a native addon: Next.js must load it with Node's require at run
// time instead of bundling it.
export default {
  serverExternalPackages: ['naano'],
}
