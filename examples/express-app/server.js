'use strict'
// node server.js  (NAANO_BASE_URL points at a naano-server; PORT defaults to 3000)
const { Naano } = require('naano')
const { createApp } = require('./app')

const naano = new Naano() // NAANO_BASE_URL from the environment
const server = createApp(naano).listen(Number(process.env.PORT || 3000), '127.0.0.1', () => {
  console.log(`example app on http://127.0.0.1:${server.address().port}`)
})
process.on('SIGTERM', () => server.close(() => naano.shutdown(5000)))
