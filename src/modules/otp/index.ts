export {
  createOtpService, DEFAULT_OTP_LIMITS, OTP_CHANNELS, OTP_PURPOSES, failureProblem, normaliseRecipient,
  type OtpService, type OtpContact, type OtpLimits, type OtpChannel, type OtpPurpose, type SentOtp, type CheckResult, type CheckOtpInput, type SendOtpInput,
} from './otp.service.js';
export { createPhoneService, type PhoneService } from './otp.phone.service.js';
export { otpRoutes, OtpCode, SentBody, sentBody } from './otp.routes.js';
export { otpErrors, type OtpFailure } from './otp.errors.js';
