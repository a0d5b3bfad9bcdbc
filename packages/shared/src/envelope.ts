/** Every API answer uses the seed's envelope. */
export interface ApiSuccess<T> {
  success: true;
  message: string;
  data: T;
}

export interface FieldError {
  field: string;
  message: string;
}

export interface ApiFailure {
  success: false;
  message: string;
  errors?: FieldError[];
}

export type ApiResponse<T> = ApiSuccess<T> | ApiFailure;
