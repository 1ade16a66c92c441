export default {
  signIn: {
    title: 'Sign in to {{brand}}',
    email: 'Email address',
    password: 'Password',
    submit: 'Sign in',
    passkey: 'Use a passkey',
    magicLink: 'Email me a link',
    forgot: 'Forgot password?',
    noAccount: 'No account yet?',
    signUp: 'Create an account',
    or: 'or',
    magicSent: 'If an account uses {{email}}, a sign-in link is on its way. It works once, for 15 minutes.',
    passkeyCancelled: 'The passkey sign-in was cancelled.',
  },
  errors: {
    invalid_credentials: 'The email address or password is not right.',
    account_locked: 'Too many failed attempts: this account is locked. Try again in {{minutes}} minutes, or reset your password.',
    account_locked_soon: 'Too many failed attempts: this account is locked for a moment. Try again shortly, or reset your password.',
    email_not_verified: 'Please verify your email address first: we have sent you a link.',
    passkey_failed: 'That passkey could not be used. Try again or sign in another way.',
  },
} as const;
