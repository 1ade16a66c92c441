import { useCallback, useEffect, useRef, useState, type FormEvent, type FormHTMLAttributes, type ReactNode } from 'react';

export interface FormProps extends Omit<FormHTMLAttributes<HTMLFormElement>, 'onSubmit'> {
  onSubmit: () => void | Promise<void>;
  /** Changes whenever a submit produced errors: focus then moves to the first invalid field, or the alert. */
  errorKey?: unknown;
  children: ReactNode;
}

/**
 * A form that never reloads the page and moves focus to the first error after a refused submit
 * (the first field marked aria-invalid, else the first alert), so keyboard and screen-reader users
 * land on what to fix.
 */
export function Form({ onSubmit, errorKey, children, ...rest }: FormProps) {
  const ref = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (!errorKey || !ref.current) return;
    const target = ref.current.querySelector<HTMLElement>('[aria-invalid="true"]') ?? ref.current.querySelector<HTMLElement>('[role="alert"]');
    target?.focus();
  }, [errorKey]);
  return (
    <form
      ref={ref}
      noValidate
      {...rest}
      onSubmit={(event: FormEvent) => {
        event.preventDefault();
        void onSubmit();
      }}
    >
      {children}
    </form>
  );
}

/**
 * The message a form shows after a refused submit, and the key that makes <Form errorKey> move
 * focus to it: `fail(text)` shows it and moves focus (again, even for the same text; with null, to the first
 * invalid field alone), `setError`
 * only changes it (null to clear).
 */
export function useFormError(): { error: string | null; errorKey: number; fail: (text: string | null) => void; setError: (text: string | null) => void } {
  const [state, setState] = useState<{ error: string | null; errorKey: number }>({ error: null, errorKey: 0 });
  const fail = useCallback((text: string | null) => setState((s) => ({ error: text, errorKey: s.errorKey + 1 })), []);
  const setError = useCallback((text: string | null) => setState((s) => ({ ...s, error: text })), []);
  return { error: state.error, errorKey: state.errorKey, fail, setError };
}
