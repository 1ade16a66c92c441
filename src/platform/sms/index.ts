export * from './sms.js';
export { createTwilioSmsProvider, twilioPermanent, type TwilioOptions } from './twilio.js';
export { createHttpSmsProvider, smsHttpSignature, type HttpSmsOptions } from './http.js';
