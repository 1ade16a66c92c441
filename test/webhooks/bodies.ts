/** The webhook API's answers, as the webhook suites read them. */

/** One attempt of a delivery, as GET …/deliveries lists it. */
export interface AttemptBody {
  attempt: number;
  attempted_at: string;
  status_code: number | null;
  latency_ms: number | null;
  response_body: string | null;
  error: string | null;
}

/** A delivery, as GET …/deliveries lists it and POST …/test and …/retry answer it. */
export interface DeliveryBody {
  id: string;
  event_id: string;
  event_type: string;
  status: string;
  attempt_count: number;
  next_attempt_at: string | null;
  created_at: string;
  attempts: AttemptBody[];
}
