// Signs the private-room invitations the browser tests mint: the server under test gets it
// as FLOCK_SECRET (playwright.config.ts), the tests pass it to `flock mint-token`.
export const SECRET = 'e2e0000000000000000000000000000000000000000000000000000000000000';

// The HTTP API key of the server under test (FLOCK_API_KEYS in playwright.config.ts).
export const API_KEY = 'e2e-api-key-0000000000000000';
