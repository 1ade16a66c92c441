/** The communication settings' shape, shared by the settings service, its queries and its table. */

export const CHANNELS = ['email', 'sms', 'push', 'in_app'] as const;
export type Channel = (typeof CHANNELS)[number];

export interface ChannelSettings {
  enabled: boolean;
  /** Messages other than security messages one recipient may get on the channel per hour; null: no limit. */
  rate_limit_per_recipient_per_hour: number | null;
  /**
   * Security messages of one purpose (one template: a password reset, a magic link, a code…) one
   * recipient may get on the channel per hour; null: no limit. Each purpose has its own budget, apart
   * from other mail, so no other traffic can use up the room of a password reset.
   */
  security_rate_limit_per_purpose_per_hour: number | null;
  /**
   * Messages the whole platform may send on the channel per minute; null: no limit. Security
   * messages count towards it (other messages give way to them) but are held only by a count of
   * their own against the same number, so other traffic never stops them.
   */
  rate_limit_per_minute: number | null;
  /** Where security messages go while this channel is disabled; null: nowhere (logged as blocked). */
  fallback_channel: Channel | null;
}

export interface OtpSettings {
  length: number;
  expiry_minutes: number;
  max_attempts: number;
  resend_cooldown_seconds: number;
}

export interface CommunicationSettings {
  channels: Record<Channel, ChannelSettings>;
  otp: OtpSettings;
}
