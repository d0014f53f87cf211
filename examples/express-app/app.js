'use strict'
// An Express signup flow attributed with Naano.
const express = require('express')
const { naanoSession } = require('naano')

function createApp(naano) {
  const app = express()
  app.use(express.urlencoded({ extended: false }))
  // A landing request with ?naano_session= gets the first-party, server-set cookie.
  app.use(naanoSession())
  const accounts = []
  app.locals.accounts = accounts

  app.get('/', (req, res) => {
    res.send('<h1>Try Acme</h1><form method=post action=/signup><input name=email> <input name=company> <button>Sign up</button></form>')
  })

  app.post('/signup', (req, res) => {
    accounts.push(req.body.email) // the real work: create the account
    // One call: returns at once, never throws for network trouble, never rejects.
    naano.trackSignupFromRequest(req, { email: req.body.email, company: req.body.company, name: req.body.name })
    res.redirect(303, '/welcome')
  })

  app.get('/welcome', (req, res) => res.send('<p>Welcome!</p>'))
  return app
}

module.exports = { createApp }
