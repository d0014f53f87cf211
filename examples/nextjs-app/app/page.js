export default function Home() {
  return (
    <form method="post" action="/api/signup">
      <h1>Try Acme</h1>
      <input name="email" placeholder="email" /> <input name="company" placeholder="company" />
      <button>Sign up</button>
    </form>
  )
}
