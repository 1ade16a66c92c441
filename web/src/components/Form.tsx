import { useEffect, useRef, type FormEvent, type FormHTMLAttributes, type ReactNode } from 'react';

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
